// cdrgw console: refreshes the webhook editor's preview while one types.
// Everything works without this file (the Preview button reloads the page).
(function () {
  "use strict";
  var form = document.getElementById("webhook-form");
  var box = document.getElementById("preview");
  if (!form || !box || !window.fetch || !window.URLSearchParams) {
    return;
  }
  var url = form.getAttribute("data-preview");
  var csrfInput = form.querySelector("input[name=csrf]");
  var csrf = csrfInput ? csrfInput.value : "";
  var timer = null;
  var seq = 0;
  var inflight = null;

  function refresh() {
    var body = new URLSearchParams(new FormData(form));
    body.delete("action");
    var mine = ++seq;
    if (inflight) {
      inflight.abort();
    }
    inflight = window.AbortController ? new AbortController() : null;
    box.setAttribute("aria-busy", "true");
    fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRF-Token": csrf, "Content-Type": "application/x-www-form-urlencoded" },
      body: body.toString(),
      signal: inflight ? inflight.signal : undefined
    }).then(function (resp) {
      return resp.text().then(function (text) {
        if (!resp.ok) {
          throw new Error("preview failed: HTTP " + resp.status + " " + text);
        }
        return text;
      });
    }).then(function (html) {
      if (mine === seq) {
        box.innerHTML = html;
        box.removeAttribute("aria-busy");
      }
    }).catch(function (err) {
      if (mine === seq && err.name !== "AbortError") {
        var div = document.createElement("div");
        div.className = "preview-error";
        div.textContent = err.message;
        box.replaceChildren(div);
        box.removeAttribute("aria-busy");
      }
    });
  }

  function schedule() {
    if (timer) {
      clearTimeout(timer);
    }
    timer = setTimeout(refresh, 300);
  }

  form.addEventListener("input", schedule);
  form.addEventListener("change", schedule);
})();
