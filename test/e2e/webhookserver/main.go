// Command webhookserver is a test fixture that runs as a Pod on a tenant's node: a validating
// admission webhook that rejects objects labelled taowa.io/deny, and an aggregated API
// (echo.taowa.io/v1alpha1) that answers discovery, both over HTTPS with the certificate in
// /tls. The e2e tests build it and import it into the nodes' containerd.
package main

import (
	"encoding/json"
	"log"
	"net/http"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Group and Version of the aggregated API; Resource is its one resource.
const (
	Group    = "echo.taowa.io"
	Version  = "v1alpha1"
	Resource = "echoes"
)

func main() {
	mux := http.NewServeMux()
	mux.HandleFunc("/validate", validate)
	mux.HandleFunc("/apis/"+Group+"/"+Version, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, metav1.APIResourceList{
			TypeMeta:     metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"},
			GroupVersion: Group + "/" + Version,
			APIResources: []metav1.APIResource{{Name: Resource, Kind: "Echo", Namespaced: true, Verbs: []string{"get", "list"}}},
		})
	})
	log.Fatal(http.ListenAndServeTLS(":8443", "/tls/tls.crt", "/tls/tls.key", mux))
}

func validate(w http.ResponseWriter, r *http.Request) {
	var review admissionv1.AdmissionReview
	if err := json.NewDecoder(r.Body).Decode(&review); err != nil || review.Request == nil {
		http.Error(w, "want an AdmissionReview", http.StatusBadRequest)
		return
	}
	var object metav1.PartialObjectMetadata
	_ = json.Unmarshal(review.Request.Object.Raw, &object)
	response := &admissionv1.AdmissionResponse{UID: review.Request.UID, Allowed: true}
	if _, deny := object.Labels["taowa.io/deny"]; deny {
		response.Allowed = false
		response.Result = &metav1.Status{Message: "denied by the webhook on the tenant's node", Code: http.StatusForbidden}
	}
	log.Printf("%s %s/%s: allowed %t", review.Request.Operation, review.Request.Namespace, review.Request.Name, response.Allowed)
	review.Response, review.Request = response, nil
	writeJSON(w, review)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(v); err != nil {
		log.Print(err)
	}
}
