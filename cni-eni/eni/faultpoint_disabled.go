//go:build !enifault

package eni

// faultPoint marks a step where tests built with the enifault tag can
// freeze the plugin; it compiles to nothing otherwise.
func faultPoint(string) {}
