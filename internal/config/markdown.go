package config

import (
	"fmt"
	"strings"
)

// Markers delimiting the generated part of docs/CONFIG.md.
const (
	DocBegin = "<!-- BEGIN GENERATED: go test ./internal/config -run TestConfigDoc -update -->"
	DocEnd   = "<!-- END GENERATED -->"
)

// Markdown renders the declared configs as two markdown tables, broker then
// topic configs. docs/CONFIG.md holds exactly this text between DocBegin and
// DocEnd (TestConfigDoc checks it; -update rewrites it).
func Markdown() string {
	var b strings.Builder
	b.WriteString("## Broker configs\n\n")
	b.WriteString("| Name | Type | Default | Valid values | Dynamic | Description |\n")
	b.WriteString("|---|---|---|---|---|---|\n")
	for _, d := range brokerSorted {
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s | %s |\n",
			d.Name, d.Type, mdDefault(d), mdCell(d.ValidValues), d.Scope, mdDoc(d))
	}
	b.WriteString("\n## Topic configs\n\n")
	b.WriteString("| Name | Type | Default | Valid values | Broker synonyms | Description |\n")
	b.WriteString("|---|---|---|---|---|---|\n")
	for _, d := range topicSorted {
		syns := make([]string, len(d.Synonyms))
		for i, s := range d.Synonyms {
			syns[i] = "`" + s + "`"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s | %s |\n",
			d.Name, d.Type, mdDefault(d), mdCell(d.ValidValues), strings.Join(syns, ", "), mdDoc(d))
	}
	return b.String()
}

func mdDefault(d *Def) string {
	switch {
	case d.Default == nil:
		return "null"
	case *d.Default == "":
		return `""`
	}
	return "`" + mdCell(*d.Default) + "`"
}

func mdDoc(d *Def) string {
	doc := d.Doc
	if d.Unused {
		doc = "*Accepted, not yet used.* " + doc
	}
	if d.Sensitive {
		doc += " Sensitive: never shown."
	}
	if d.Note != "" {
		doc += " **Samsa:** " + d.Note
	}
	return mdCell(doc)
}

func mdCell(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.ReplaceAll(s, "\n", " ")
}
