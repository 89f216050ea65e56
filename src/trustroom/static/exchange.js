// Client portal uploads: drag-and-drop or a file chooser, one request per file with a
// progress bar; the page reloads once every file is in. No framework, CSP script-src 'self'.
(function () {
  "use strict";
  var zone = document.getElementById("dropzone");
  if (!zone) { return; }
  var input = document.getElementById("file-input");
  var bar = document.getElementById("upload-progress");
  var status = document.getElementById("upload-status");

  function problemText(xhr) {
    try {
      var page = new DOMParser().parseFromString(xhr.responseText, "text/html");
      var detail = page.querySelector("[data-detail]");
      if (detail) { return detail.textContent; }
    } catch (ignored) { /* fall through */ }
    return zone.dataset.failed + " (" + xhr.status + ")";
  }

  function send(files, index) {
    if (index >= files.length) {
      status.textContent = zone.dataset.done;
      window.location.reload();
      return;
    }
    var form = new FormData();
    form.append("file", files[index]);
    var xhr = new XMLHttpRequest();
    xhr.open("POST", zone.dataset.url);
    xhr.setRequestHeader("X-CSRF-Token", zone.dataset.csrf);
    bar.hidden = false;
    bar.value = 0;
    status.textContent = files[index].name;
    xhr.upload.onprogress = function (event) {
      if (event.lengthComputable) { bar.value = Math.round((event.loaded / event.total) * 100); }
    };
    xhr.onload = function () {
      if (xhr.status === 201) { send(files, index + 1); } else { bar.hidden = true; status.textContent = problemText(xhr); }
    };
    xhr.onerror = function () { bar.hidden = true; status.textContent = zone.dataset.failed; };
    xhr.send(form);
  }

  input.addEventListener("change", function () { send(input.files, 0); });
  zone.addEventListener("dragover", function (event) { event.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", function () { zone.classList.remove("over"); });
  zone.addEventListener("drop", function (event) {
    event.preventDefault();
    zone.classList.remove("over");
    send(event.dataTransfer.files, 0);
  });
  zone.dataset.ready = "true";  // the handlers are in place (tests wait for it)
}());
