package simkit

import (
	"html/template"
	"net/http"
	"strconv"
)

// Page is a simulator's hosted pay page: the gateway's own account of the
// payment (Body) in a frame shared by every simulator, with one button per
// mode the customer may choose now.
type Page struct {
	Title   string        // the <title>
	Heading string        // the <h1>
	Body    template.HTML // rendered by the simulator from its own template
	Action  string        // where the buttons post; "" the page itself
	Buttons []Button      // none: nothing to do here any more
	Back    string        // "Back to the shop" link; "" none
}

// Button offers one mode on the pay page; it posts mode=<Mode>.
type Button struct {
	Mode  Mode
	Label string
}

// StandardButtons are the buttons of an open payment: exact, under, over
// (labelled with their shares) and expire.
func StandardButtons(underPct, overPct int64) []Button {
	return []Button{
		{Exact, "Pay exact"},
		{Under, "Underpay (" + strconv.FormatInt(underPct, 10) + "%)"},
		{Over, "Overpay (" + strconv.FormatInt(overPct, 10) + "%)"},
		{Expire, "Let it expire"},
	}
}

var pageFrame = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}}</title>
<style>body{font-family:sans-serif;max-width:36em;margin:2em auto;line-height:1.5}
button{font-size:1em;margin:.3em .3em .3em 0;padding:.4em .8em}code{background:#eee;padding:0 .2em}</style></head>
<body>
<h1>{{.Heading}}</h1>
{{.Body}}
{{if .Buttons}}<form method="post"{{with .Action}} action="{{.}}"{{end}}>
{{range .Buttons}}<button name="mode" value="{{.Mode}}">{{.Label}}</button>
{{end}}</form>{{end}}
{{with .Back}}<p><a href="{{.}}">Back to the shop</a></p>{{end}}
<p><small>Simulated gateway: no real money moves.</small></p>
</body></html>
`))

// WritePage renders p.
func WritePage(w http.ResponseWriter, p Page) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = pageFrame.Execute(w, p)
}

// PageMode reads the mode a pay page's button posted.
func PageMode(r *http.Request) (Mode, error) { return ParseMode(r.FormValue("mode")) }
