package server

import (
	"crypto/subtle"
	"html/template"
	"net/http"
	"strings"
)

// signinPage is the one page a browser sees before it holds the session cookie.
var signinPage = template.Must(template.New("signin").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in · actionstream</title><link rel="stylesheet" href="/static/app.css"></head>
<body><main class="signin"><h1>actionstream</h1>
<form method="post" action="/signin">
<label for="token">Access token (web.token)</label>
<input id="token" name="token" type="password" autocomplete="current-password" required autofocus>
<input type="hidden" name="next" value="{{.Next}}">
<button id="signin" type="submit">Sign in</button>
{{if .Failed}}<p id="signin-error" class="error">Wrong token.</p>{{end}}
</form></main></body></html>
`))

// signin serves GET /signin (the form) and POST /signin (check the token, set the cookie,
// go back to where the browser was sent from).
func (g *guard) signin(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	next := safeNext(r.FormValue("next"))
	if g.token == "" {
		http.Redirect(w, r, next, http.StatusSeeOther) // nothing to sign in to
		return
	}
	if r.Method == http.MethodGet {
		g.signinForm(w, next, false, http.StatusOK)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad sign-in form: "+err.Error(), http.StatusBadRequest)
		return
	}
	if subtle.ConstantTimeCompare([]byte(r.PostForm.Get("token")), []byte(g.token)) != 1 {
		g.rejectedAuth.Add(1)
		g.signinForm(w, safeNext(r.PostForm.Get("next")), true, http.StatusUnauthorized)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: g.session, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
	http.Redirect(w, r, safeNext(r.PostForm.Get("next")), http.StatusSeeOther)
}

func (g *guard) signinForm(w http.ResponseWriter, next string, failed bool, code int) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	signinPage.Execute(w, struct {
		Next   string
		Failed bool
	}{next, failed})
}

// safeNext keeps the redirect after sign-in on this server (no "//evil" or "https://evil").
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return "/"
	}
	return next
}
