package postrender

import (
	"bytes"
)

// splitDocuments cuts a YAML stream before every document separator line ("---" at the start of
// a line, alone or followed by a space, tab or comment). YAML forbids such a line inside a
// document, block scalars included, so the cut never splits one. Joining the pieces gives back
// the input byte for byte, which is how untouched documents pass through unchanged.
func splitDocuments(stream []byte) [][]byte {
	var docs [][]byte
	start := 0
	for lineStart := 0; lineStart < len(stream); {
		lineEnd := bytes.IndexByte(stream[lineStart:], '\n') + 1
		if lineEnd == 0 {
			lineEnd = len(stream) - lineStart
		}
		if lineStart > start && isSeparator(stream[lineStart:lineStart+lineEnd]) {
			docs = append(docs, stream[start:lineStart])
			start = lineStart
		}
		lineStart += lineEnd
	}
	if start < len(stream) {
		docs = append(docs, stream[start:])
	}
	return docs
}

func isSeparator(line []byte) bool {
	rest, ok := bytes.CutPrefix(line, []byte("---"))
	return ok && (len(rest) == 0 || rest[0] == ' ' || rest[0] == '\t' || rest[0] == '\n' || rest[0] == '\r')
}

// header returns the lines a document starts with before its content: the separator, blank
// lines and comments, such as Helm's "# Source: tenant-master/templates/etcd.yaml". A rewritten
// document keeps them.
func header(doc []byte) []byte {
	end := 0
	for end < len(doc) {
		lineEnd := bytes.IndexByte(doc[end:], '\n') + 1
		if lineEnd == 0 {
			break // a last line without newline holds content or nothing worth keeping
		}
		line := bytes.TrimSpace(doc[end : end+lineEnd])
		if end == 0 && isSeparator(line) {
			if rest := bytes.TrimSpace(line[3:]); len(rest) > 0 && rest[0] != '#' {
				return []byte("---\n") // content on the separator line belongs to the body
			}
		} else if len(line) > 0 && line[0] != '#' {
			break
		}
		end += lineEnd
	}
	return bytes.Clone(doc[:end])
}

// sourceOf returns " (templates/x.yaml)" from Helm's "# Source:" comment, to name a document
// in errors; "" when there is none.
func sourceOf(doc []byte) string {
	for line := range bytes.Lines(header(doc)) {
		if source, ok := bytes.CutPrefix(bytes.TrimSpace(line), []byte("# Source: ")); ok {
			return " (" + string(source) + ")"
		}
	}
	return ""
}
