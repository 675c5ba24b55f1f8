package ingest

import (
	"net/url"
	"strings"
)

// Redact returns rawURL with any password (and query values named like secrets) replaced, for
// logs and errors. Inputs that do not parse as URLs are returned with everything between
// "://" and "@" masked.
func Redact(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme == "" {
		return redactLoose(rawURL)
	}
	if u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
	}
	if u.RawQuery != "" {
		q := u.Query()
		changed := false
		for k := range q {
			lk := strings.ToLower(k)
			if strings.Contains(lk, "pass") || strings.Contains(lk, "token") || strings.Contains(lk, "secret") || lk == "key" {
				q.Set(k, "xxxxx")
				changed = true
			}
		}
		if changed {
			u.RawQuery = q.Encode()
		}
	}
	return u.String()
}

func redactLoose(s string) string {
	i := strings.Index(s, "://")
	if i < 0 {
		return s
	}
	j := strings.LastIndex(s, "@")
	if j <= i {
		return s
	}
	return s[:i+3] + "xxxxx" + s[j:]
}

// RedactIn replaces every occurrence of rawURL's secrets inside text (an error message from a
// library that echoes the URL) with the redacted form.
func RedactIn(text, rawURL string) string {
	u, err := url.Parse(rawURL)
	if err == nil && u.User != nil {
		if p, has := u.User.Password(); has && p != "" {
			text = strings.ReplaceAll(text, rawURL, Redact(rawURL))
			text = strings.ReplaceAll(text, p, "xxxxx")
			if ep := url.PathEscape(p); ep != p {
				text = strings.ReplaceAll(text, ep, "xxxxx")
			}
		}
	}
	return text
}
