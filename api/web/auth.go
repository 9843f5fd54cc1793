package web

import (
	"net/http"
	"strconv"
	"time"
)

// loginData is the sign-in page's data.
type loginData struct {
	Next string
}

func (c *console) loginPage(w http.ResponseWriter, r *http.Request) {
	next := localPath(r.URL.Query().Get("next"))
	if _, ok := c.sess.fromRequest(r); ok || c.o.Token == "" {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	c.render(w, r, &reqCtx{}, http.StatusOK, "login.html", page{Title: "Sign in", Data: loginData{Next: next}})
}

// login exchanges the admin token for a session cookie.
func (c *console) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if !sameOrigin(r) {
		c.forbidden(w, r, "This form was posted from another site.")
		return
	}
	next := localPath(r.PostFormValue("next"))
	if c.o.Token == "" {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	addr := clientAddr(r)
	if wait := c.logins.wait(addr); wait > 0 {
		c.log.Warn("web: sign-in refused: too many wrong tokens", "remote", r.RemoteAddr)
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
		c.render(w, r, &reqCtx{}, http.StatusTooManyRequests, "login.html",
			page{Title: "Sign in", Error: "Too many wrong tokens from your address; try again in " + wait.Round(time.Second).String() + ".",
				Data: loginData{Next: next}})
		return
	}
	if !c.sess.checkToken(c.o.Token, r.PostFormValue("token")) {
		c.logins.fail(addr)
		c.log.Warn("web: sign-in with a wrong token", "remote", r.RemoteAddr)
		c.render(w, r, &reqCtx{}, http.StatusUnauthorized, "login.html",
			page{Title: "Sign in", Error: "That is not the admin token.", Data: loginData{Next: next}})
		return
	}
	se, v := c.sess.issue()
	http.SetCookie(w, c.sess.cookie(r, v, se.expires))
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// logout expires the session cookie.
func (c *console) logout(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	c.sess.revoke(rc.se)
	http.SetCookie(w, c.sess.cookie(r, "", c.o.Now()))
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}
