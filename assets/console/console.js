// Sluice console: the few behaviours htmx does not cover. Every action calls the same /v1
// route as the CLI, with the session's form token in X-CSRF-Token.
(function () {
  'use strict';
  var csrf = function () {
    var m = document.querySelector('meta[name="csrf-token"]');
    return m ? m.getAttribute('content') : '';
  };
  var toast = function (text, failed) {
    var t = document.getElementById('toast');
    if (!t) return;
    t.className = failed ? 'toast failed' : 'toast';
    t.textContent = text;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(function () { t.textContent = ''; }, failed ? 12000 : 6000);
  };
  /**
   * A console session that has ended (its token revoked or expired, its role changed) is
   * answered 401 SESSION_ENDED: reloading the page takes the person to the sign-in page,
   * which says why. True when that is what happened.
   */
  var sessionEnded = function (status, text) {
    if (status !== 401) return false;
    try {
      if (JSON.parse(text).error.code !== 'SESSION_ENDED') return false;
    } catch (ignored) { return false; }
    location.reload();
    return true;
  };
  /** The message of a Sluice error body ({ error: { code, message } }), or the status line. */
  var errorOf = function (status, text) {
    try {
      var e = JSON.parse(text).error;
      if (e && e.code) return e.code + ': ' + e.message;
    } catch (ignored) { /* not JSON */ }
    return 'HTTP ' + status;
  };

  // Approve / decline: a confirmation form posts JSON to the API.
  document.addEventListener('submit', function (ev) {
    var form = ev.target;
    if (!form.matches('form[data-api]')) return;
    ev.preventDefault();
    var button = form.querySelector('button');
    if (button) button.disabled = true;
    fetch(form.getAttribute('data-api'), {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'content-type': 'application/json', 'x-csrf-token': csrf() },
      body: form.getAttribute('data-body') || '{}',
    }).then(function (res) {
      return res.text().then(function (text) {
        if (sessionEnded(res.status, text)) return;
        if (!res.ok) throw new Error(errorOf(res.status, text));
        sessionStorage.setItem('sluice-toast', form.getAttribute('data-success') || 'Done');
        location.assign(form.getAttribute('data-done'));
      });
    }).catch(function (err) {
      if (button) button.disabled = false;
      toast(err.message, true);
    });
  });

  // Publish: a multipart upload with a progress bar; "meta" first, then the files.
  document.addEventListener('submit', function (ev) {
    var form = ev.target;
    if (form.id !== 'publish-form') return;
    ev.preventDefault();
    var meta = {};
    ['name', 'version', 'severity', 'classification', 'platform', 'language', 'supersedes'].forEach(function (k) {
      var v = form.elements[k].value.trim();
      if (v) meta[k] = v;
    });
    var data = new FormData();
    data.append('meta', JSON.stringify(meta));
    var files = form.elements.files.files;
    for (var i = 0; i < files.length; i++) data.append('file' + i, files[i], files[i].name);
    var bar = document.getElementById('publish-progress');
    var text = document.getElementById('publish-progress-text');
    var button = form.querySelector('button[type="submit"]');
    bar.hidden = false;
    bar.value = 0;
    button.disabled = true;
    var xhr = new XMLHttpRequest();
    xhr.open('POST', form.getAttribute('data-publish'));
    xhr.setRequestHeader('x-csrf-token', csrf());
    xhr.upload.onprogress = function (e) {
      if (!e.lengthComputable) return;
      bar.value = Math.floor((e.loaded / e.total) * 100);
      text.textContent = bar.value + '% uploaded';
    };
    xhr.onload = function () {
      button.disabled = false;
      if (xhr.status === 201) {
        var id = JSON.parse(xhr.responseText).id;
        sessionStorage.setItem('sluice-toast', 'Published ' + id);
        location.assign('/ui/packages/' + encodeURIComponent(id));
        return;
      }
      if (sessionEnded(xhr.status, xhr.responseText)) return;
      text.textContent = errorOf(xhr.status, xhr.responseText);
      text.setAttribute('role', 'alert');
      toast(text.textContent, true);
    };
    xhr.onerror = function () {
      button.disabled = false;
      text.textContent = 'The upload was cut; the package was not published. Try again.';
      toast(text.textContent, true);
    };
    xhr.send(data);
  });

  document.addEventListener('DOMContentLoaded', function () {
    var pending = sessionStorage.getItem('sluice-toast');
    if (pending) {
      sessionStorage.removeItem('sluice-toast');
      toast(pending, false);
    }
  });
  // A confirmation swapped in takes the focus, so keyboard and screen-reader users land on it.
  document.addEventListener('htmx:afterSwap', function (ev) {
    var c = document.getElementById('confirm');
    if (c && ev.detail.pathInfo && /\/confirm/.test(ev.detail.pathInfo.requestPath)) c.focus();
  });
  document.addEventListener('htmx:responseError', function (ev) {
    var xhr = ev.detail.xhr;
    var doc = new DOMParser().parseFromString(xhr.responseText, 'text/html');
    var alert = doc.querySelector('[role="alert"]');
    toast(alert ? alert.textContent : 'HTTP ' + xhr.status, true);
  });
})();
