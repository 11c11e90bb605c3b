// Tessera passkey pages: the one script. No library, no inline code (the pages' CSP forbids it).
//
// It reads the page kind from <body data-page>, the tenant's base path from <body data-base> and the pending
// authorization from <body data-authz>, and talks JSON to /{tenant}/webauthn/... with the CSRF token of
// <meta name="csrf-token"> in the X-CSRF-Token header. WebAuthn options and responses travel in the WebAuthn Level 3
// JSON serialization; browsers without parseCreationOptionsFromJSON / toJSON get a base64url fallback.
(function () {
  "use strict";

  var body = document.body;
  var page = body.getAttribute("data-page") || "";
  var base = body.getAttribute("data-base") || "";
  var authz = body.getAttribute("data-authz") || "";
  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var csrf = csrfMeta ? csrfMeta.getAttribute("content") : "";
  var statusBox = document.getElementById("status");
  var conditionalAbort = null;

  // ---- small helpers --------------------------------------------------------------------------------------------

  function say(message, kind) {
    if (!statusBox) { return; }
    // A server-rendered confirmation ("Passkey renamed.") no longer describes the page once something new fails.
    var notice = document.getElementById("notice");
    if (notice && kind === "error") { notice.hidden = true; }
    statusBox.textContent = message || "";
    statusBox.className = kind ? "status " + kind : "status";
    if (kind === "error" && typeof statusBox.scrollIntoView === "function") {
      statusBox.scrollIntoView({ block: "nearest" });
    }
  }

  function setBusy(busy) {
    var buttons = document.querySelectorAll("button[data-passkey], form[data-delete] button");
    for (var i = 0; i < buttons.length; i++) { buttons[i].disabled = busy; }
  }

  function b64urlToBuffer(text) {
    var b64 = String(text).replace(/-/g, "+").replace(/_/g, "/");
    while (b64.length % 4) { b64 += "="; }
    var raw = atob(b64);
    var bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) { bytes[i] = raw.charCodeAt(i); }
    return bytes.buffer;
  }

  function bufferToB64url(buffer) {
    var bytes = new Uint8Array(buffer);
    var raw = "";
    for (var i = 0; i < bytes.length; i++) { raw += String.fromCharCode(bytes[i]); }
    return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function descriptorsFromJSON(list) {
    return (list || []).map(function (d) {
      var out = { type: d.type, id: b64urlToBuffer(d.id) };
      if (d.transports) { out.transports = d.transports; }
      return out;
    });
  }

  function creationOptions(json) {
    if (window.PublicKeyCredential && typeof PublicKeyCredential.parseCreationOptionsFromJSON === "function") {
      return PublicKeyCredential.parseCreationOptionsFromJSON(json);
    }
    var o = Object.assign({}, json);
    o.challenge = b64urlToBuffer(json.challenge);
    o.user = Object.assign({}, json.user, { id: b64urlToBuffer(json.user.id) });
    o.excludeCredentials = descriptorsFromJSON(json.excludeCredentials);
    return o;
  }

  function requestOptions(json) {
    if (window.PublicKeyCredential && typeof PublicKeyCredential.parseRequestOptionsFromJSON === "function") {
      return PublicKeyCredential.parseRequestOptionsFromJSON(json);
    }
    var o = Object.assign({}, json);
    o.challenge = b64urlToBuffer(json.challenge);
    o.allowCredentials = descriptorsFromJSON(json.allowCredentials);
    return o;
  }

  function credentialJSON(credential) {
    if (typeof credential.toJSON === "function") {
      try { return credential.toJSON(); } catch (e) { /* fall back below */ }
    }
    var r = credential.response;
    var out = {
      id: credential.id,
      rawId: bufferToB64url(credential.rawId),
      type: credential.type,
      authenticatorAttachment: credential.authenticatorAttachment || null,
      clientExtensionResults: credential.getClientExtensionResults ? credential.getClientExtensionResults() : {},
      response: { clientDataJSON: bufferToB64url(r.clientDataJSON) }
    };
    if (r.attestationObject) {
      out.response.attestationObject = bufferToB64url(r.attestationObject);
      out.response.transports = typeof r.getTransports === "function" ? r.getTransports() : [];
      if (typeof r.getAuthenticatorData === "function") {
        out.response.authenticatorData = bufferToB64url(r.getAuthenticatorData());
      }
      if (typeof r.getPublicKeyAlgorithm === "function") {
        out.response.publicKeyAlgorithm = r.getPublicKeyAlgorithm();
      }
    } else {
      out.response.authenticatorData = bufferToB64url(r.authenticatorData);
      out.response.signature = bufferToB64url(r.signature);
      out.response.userHandle = r.userHandle ? bufferToB64url(r.userHandle) : null;
    }
    return out;
  }

  // What a browser error means for the person, and what to do next. `scoped` is true when the request named the
  // account's passkeys (allowCredentials): there a NotAllowedError is most often "none of them is on this device",
  // which browsers deliberately do not tell apart from a cancel, so both are said.
  function explain(error) {
    var name = error && error.name;
    if (name === "NotAllowedError" && error.scoped) {
      return "No passkey for this account was found on this device, or your device could not verify you, or the " +
        "request was cancelled. Use the device or security key that holds your passkey, or try again.";
    }
    if (name === "NotAllowedError") {
      return "The passkey request was cancelled or timed out, or your device could not verify you. Try again " +
        "when you are ready.";
    }
    if (name === "InvalidStateError") {
      return "This device already holds a passkey for this account. Use another device or security key, or sign " +
        "in with the passkey you already have.";
    }
    if (name === "SecurityError") {
      return "Passkeys cannot be used at this address. Open the sign-in page from the site's own address and " +
        "try again.";
    }
    if (name === "NotSupportedError") {
      return "This browser or device does not support the kind of passkey this site needs. Try another browser " +
        "or a security key.";
    }
    if (name === "AbortError") {
      return "The passkey request was interrupted. Try again.";
    }
    if (error && error.code && error.message) { return error.message; }
    if (error instanceof TypeError && /fetch|network|load/i.test(error.message || "")) {
      return "The server could not be reached. Check your connection and try again.";
    }
    return "Something went wrong. Reload the page and try again.";
  }

  // Marks a browser error of a get() that named the account's passkeys, for explain().
  function scopedFailure(options) {
    var scoped = !!(options && options.allowCredentials && options.allowCredentials.length);
    return function (error) {
      if (error && typeof error === "object") {
        try { error.scoped = scoped; } catch (e) { /* a frozen error keeps its generic message */ }
      }
      throw error;
    };
  }

  function postJSON(path, payload) {
    return fetch(base + path, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(payload)
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (!response.ok) {
          var failure = new Error(data.message ||
            "The server could not answer (error " + response.status + "). Wait a moment and try again.");
          failure.code = data.error || "server_error";
          throw failure;
        }
        return data;
      });
    });
  }

  function webauthnAvailable() {
    if (window.PublicKeyCredential && navigator.credentials) { return true; }
    say("This browser does not support passkeys. Please use an up-to-date browser.", "error");
    return false;
  }

  function stopConditional() {
    if (conditionalAbort) {
      conditionalAbort.abort();
      conditionalAbort = null;
    }
  }

  function go(next) {
    if (typeof next === "string" && next.charAt(0) === "/" && next.charAt(1) !== "/") {
      window.location.assign(next);
    }
  }

  // ---- ceremonies -----------------------------------------------------------------------------------------------

  function signIn(options) {
    return postJSON("/webauthn/login/options", options).then(function (start) {
      return navigator.credentials.get({ publicKey: requestOptions(start.publicKey) })
        .catch(scopedFailure(start.publicKey))
        .then(function (credential) {
          return postJSON("/webauthn/login/verify", { ceremony: start.ceremony, credential: credentialJSON(credential) });
        });
    });
  }

  // Autofill runs in the background: until the person picks a passkey from it, nothing they did can have failed,
  // so a refused, cancelled or unavailable background request stays silent. Once a passkey was picked, its
  // verification is theirs and its errors are shown.
  function conditionalSignIn() {
    if (!window.PublicKeyCredential || typeof PublicKeyCredential.isConditionalMediationAvailable !== "function") {
      return;
    }
    var picked = false;
    PublicKeyCredential.isConditionalMediationAvailable().then(function (available) {
      if (!available) { return; }
      return postJSON("/webauthn/login/options", { authz: authz || null, conditional: true }).then(function (start) {
        conditionalAbort = new AbortController();
        return navigator.credentials.get({
          mediation: "conditional",
          publicKey: requestOptions(start.publicKey),
          signal: conditionalAbort.signal
        }).then(function (credential) {
          conditionalAbort = null;
          picked = true;
          say("Checking your passkey…");
          return postJSON("/webauthn/login/verify", { ceremony: start.ceremony, credential: credentialJSON(credential) });
        }).then(function (done) { go(done.next); });
      });
    }).catch(function (error) {
      if (!picked) { return; }
      say(explain(error), "error");
    });
  }

  function register(path, payload, verifyPath, extra) {
    return postJSON(path, payload).then(function (start) {
      return navigator.credentials.create({ publicKey: creationOptions(start.publicKey) }).then(function (credential) {
        var body = Object.assign({ ceremony: start.ceremony, credential: credentialJSON(credential) }, extra || {});
        return postJSON(verifyPath, body);
      });
    });
  }

  function run(task, busyText) {
    if (!webauthnAvailable()) { return; }
    stopConditional();
    setBusy(true);
    say(busyText || "Follow your browser's instructions to use your passkey…");
    task().then(function (done) {
      say("Done. Continuing…", "ok");
      go(done.next);
    }).catch(function (error) {
      say(explain(error), "error");
    }).then(function () { setBusy(false); });
  }

  function value(id) {
    var field = document.getElementById(id);
    return field ? field.value.trim() : "";
  }

  // ---- pages ----------------------------------------------------------------------------------------------------

  function loginPage() {
    var form = document.getElementById("login-form");
    var passkeyButton = document.getElementById("passkey-button");
    if (form) {
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        var username = value("username");
        if (!username) {
          say("Enter your username, or use “Sign in with a passkey”.", "error");
          return;
        }
        run(function () { return signIn({ username: username, authz: authz || null }); });
      });
    }
    if (passkeyButton) {
      passkeyButton.addEventListener("click", function () {
        run(function () { return signIn({ authz: authz || null }); });
      });
    }
    conditionalSignIn();
  }

  function signupPage() {
    var form = document.getElementById("signup-form");
    if (!form) { return; }
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var payload = {
        username: value("username"),
        display_name: value("display-name"),
        email: value("email"),
        authz: authz || null
      };
      run(function () { return register("/webauthn/register/options", payload, "/webauthn/register/verify"); });
    });
  }

  // Runs `task`; when the server first wants a fresh user verification, verifies the user with one of their own
  // passkeys and runs it again.
  function withFreshVerification(task, then) {
    return task().catch(function (error) {
      if (error.code !== "reauth_required") { throw error; }
      say("First confirm it is you with one of your passkeys…");
      return signIn({ reauth: true }).then(function () {
        if (then) { say(then); }
        return task();
      });
    });
  }

  function accountPage() {
    var addButton = document.getElementById("add-passkey-button");
    if (addButton) {
      addButton.addEventListener("click", function () {
        var extra = { nickname: value("new-passkey-name") };
        var add = function () { return register("/webauthn/add/options", {}, "/webauthn/add/verify", extra); };
        run(function () { return withFreshVerification(add, "Now create the new passkey…"); });
      });
    }
    // Deleting a passkey also needs a fresh verification: the script sends the form as JSON so it can verify first.
    var deleteForms = document.querySelectorAll("form[data-delete]");
    for (var i = 0; i < deleteForms.length; i++) {
      deleteForms[i].addEventListener("submit", function (event) {
        event.preventDefault();
        var credential = event.currentTarget.querySelector('input[name="credential"]').value;
        var remove = function () { return postJSON("/webauthn/delete", { credential: credential }); };
        run(function () { return withFreshVerification(remove, "Deleting the passkey…"); }, "Deleting the passkey…");
      });
    }
  }

  // Buttons with data-copy="ID" copy the text of element ID (the demo's raw ID token).
  function copyButtons() {
    var buttons = document.querySelectorAll("button[data-copy]");
    for (var i = 0; i < buttons.length; i++) {
      buttons[i].addEventListener("click", function (event) {
        var source = document.getElementById(event.currentTarget.getAttribute("data-copy"));
        if (!source) { return; }
        var text = "value" in source ? source.value : source.textContent;
        var byHand = function () {
          if (typeof source.select === "function") { source.select(); }
          say("Press Ctrl+C (or ⌘C) to copy the selected text.");
        };
        if (navigator.clipboard && typeof navigator.clipboard.writeText === "function") {
          navigator.clipboard.writeText(text).then(function () { say("Copied.", "ok"); }, byHand);
        } else {
          byHand();
        }
      });
    }
  }

  // The token viewer: an answer in the URL fragment (response_mode=fragment, or a pasted link) never reaches the
  // server, so it is posted to /jwt as a form (same origin) and removed from the address bar.
  function tokenViewerPage() {
    var fragment = window.location.hash.replace(/^#/, "");
    if (!/(^|&)(id_token|code|error)=/.test(fragment)) { return; }
    var form = document.createElement("form");
    form.method = "post";
    form.action = "/jwt";
    fragment.split("&").forEach(function (pair) {
      var at = pair.indexOf("=");
      if (at < 1) { return; }
      var input = document.createElement("input");
      input.type = "hidden";
      input.name = decodeURIComponent(pair.slice(0, at).replace(/\+/g, " "));
      input.value = decodeURIComponent(pair.slice(at + 1).replace(/\+/g, " "));
      form.appendChild(input);
    });
    if (window.history && typeof window.history.replaceState === "function") {
      window.history.replaceState(null, "", window.location.pathname);
    }
    document.body.appendChild(form);
    form.submit();
  }

  // The broker's local accounts. The choice page's "Sign in with a passkey" asks the broker for a challenge, then
  // sends the assertion with the page's form (an ordinary POST, so the answer to the app is a normal navigation);
  // the registration page carries its creation options in the form's data-options.
  function brokerPasskeyForm() {
    var form = document.getElementById("local-passkey-form");
    var button = document.getElementById("local-passkey-button");
    if (!form || !button) { return; }
    // Enter in the email field starts the passkey sign-in (the form itself is sent only with an assertion).
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      button.click();
    });
    button.addEventListener("click", function () {
      if (!webauthnAvailable()) { return; }
      setBusy(true);
      say("Follow your browser's instructions to use your passkey…");
      var email = value("local-signin-email");
      var ask = { handle: form.getAttribute("data-handle") || "" };
      if (email) { ask.email = email; }
      postJSON("/broker/local/passkey/options", ask)
        .then(function (start) {
          return navigator.credentials.get({ publicKey: requestOptions(start.publicKey) })
            .catch(scopedFailure(start.publicKey)).then(function (credential) {
            form.elements.ceremony.value = start.ceremony;
            form.elements.credential.value = JSON.stringify(credentialJSON(credential));
            say("Checking your passkey…");
            form.submit();
          });
        })
        .catch(function (error) {
          setBusy(false);
          say(explain(error), "error");
        });
    });
  }

  function brokerRegisterForm() {
    var form = document.getElementById("local-register-form");
    var button = document.getElementById("local-register-button");
    if (!form || !button) { return; }
    button.addEventListener("click", function () {
      if (!webauthnAvailable()) { return; }
      var options;
      try { options = JSON.parse(form.getAttribute("data-options") || "{}"); } catch (e) { options = null; }
      if (!options || !options.challenge) {
        say("Something went wrong. Reload the page and try again.", "error");
        return;
      }
      setBusy(true);
      say("Follow your browser's instructions to create your passkey…");
      navigator.credentials.create({ publicKey: creationOptions(options) }).then(function (credential) {
        form.elements.credential.value = JSON.stringify(credentialJSON(credential));
        say("Saving your passkey…");
        form.submit();
      }).catch(function (error) {
        setBusy(false);
        say(explain(error), "error");
      });
    });
  }

  copyButtons();
  if (page === "broker") { brokerPasskeyForm(); brokerRegisterForm(); }
  if (page === "jwt") { tokenViewerPage(); }
  if (page === "login") { loginPage(); }
  if (page === "signup") { signupPage(); }
  if (page === "account") { accountPage(); }
})();
