// Signing in with an API key, shared by the dashboard (/audit/v1/dashboard) and the console
// (/console): the key is typed into #key-form, kept in this tab's sessionStorage (never in
// a URL or a cookie) and sent only in the Authorization header of requests to this origin.
// A refused key is forgotten and the sign-in form says why, telling an unknown key from a
// key of the wrong kind. Loaded before the page's own script, as `LeadfarmSignIn`.
"use strict";
(function (root) {
  const KEY = "leadfarm.audit.key";

  class AuthError extends Error {}

  function key() { return sessionStorage.getItem(KEY); }

  function headers(extra) {
    return Object.assign({ "Authorization": "Bearer " + key() }, extra || {});
  }

  // What to tell someone whose key was refused: an unknown key and a key of the wrong kind
  // are different mistakes with different fixes. `what` names the page ("dashboard").
  function refusalText(status, detail, what) {
    if (status === 401) {
      return "This key is unknown or has been revoked. Check that you pasted all of it, or " +
        "ask an admin for a manager key.";
    }
    const scope = (/yours has scope (\w+)/.exec(detail || "") || [])[1];
    return "This is " + (scope ? "a " + scope + " key" : "a key") + ": it cannot open the " +
      what + ". Sign in with a manager key (or the admin key).";
  }

  async function refusal(response, what) {
    let detail = "";
    try { detail = (await response.json()).detail || ""; } catch (e) { /* not JSON */ }
    return refusalText(response.status, detail, what);
  }

  // Wires the sign-in form, the sign-out button and the page's signed-in parts (the ids in
  // `shown`); calls `onSignedIn()` whenever a key is present. Returns `signOut(message)`.
  function mount(options) {
    const $ = (id) => document.getElementById(id);

    function show() {
      const signedIn = Boolean(key());
      $("sign-in").hidden = signedIn;
      $("sign-out").hidden = !signedIn;
      for (const id of options.shown) { $(id).hidden = !signedIn; }
      document.body.dataset.state = signedIn ? "loading" : "signed-out";
      if (signedIn) { options.onSignedIn(); }
    }

    function signOut(message) {
      sessionStorage.removeItem(KEY);
      show();
      const box = $("sign-in-error");
      box.hidden = !message;
      box.textContent = message || "";
    }

    $("key-form").addEventListener("submit", (event) => {
      event.preventDefault();
      sessionStorage.setItem(KEY, $("key").value.trim());
      $("key").value = "";
      $("sign-in-error").hidden = true;
      show();
    });
    $("sign-out").addEventListener("click", () => signOut());
    show();
    return signOut;
  }

  root.LeadfarmSignIn = { AuthError: AuthError, key: key, headers: headers, refusal: refusal,
    refusalText: refusalText,
    mount: mount };
}(self));
