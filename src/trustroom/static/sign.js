// The signer's pages: fields placed over the page images, the signature drawn on a canvas
// (sent as a PNG), and the "being signed" page polling the status. No framework; CSP
// script-src 'self', and styles set through the CSSOM only.
(function () {
  "use strict";

  // Fields are given in PDF points from the page's lower left corner; place them in percent.
  Array.prototype.forEach.call(document.querySelectorAll(".sign-page"), function (page) {
    var width = parseFloat(page.dataset.width), height = parseFloat(page.dataset.height);
    Array.prototype.forEach.call(page.querySelectorAll(".sign-field"), function (field) {
      var x = parseFloat(field.dataset.x), y = parseFloat(field.dataset.y);
      var w = parseFloat(field.dataset.w), h = parseFloat(field.dataset.h);
      field.style.left = (100 * x / width) + "%";
      field.style.top = (100 * (height - y - h) / height) + "%";
      field.style.width = (100 * w / width) + "%";
      field.style.height = (100 * h / height) + "%";
    });
    page.classList.add("placed");
  });

  var canvas = document.getElementById("signature-pad");
  if (canvas) {
    var context = canvas.getContext("2d");
    var drawing = false, drawn = false;
    context.lineWidth = 3;
    context.lineCap = "round";
    context.lineJoin = "round";
    context.strokeStyle = "#10204a";
    var point = function (event) {
      var box = canvas.getBoundingClientRect();
      return { x: (event.clientX - box.left) * canvas.width / box.width, y: (event.clientY - box.top) * canvas.height / box.height };
    };
    canvas.addEventListener("pointerdown", function (event) {
      var at = point(event);
      drawing = true;
      canvas.setPointerCapture(event.pointerId);
      context.beginPath();
      context.moveTo(at.x, at.y);
      event.preventDefault();
    });
    canvas.addEventListener("pointermove", function (event) {
      if (!drawing) { return; }
      var at = point(event);
      context.lineTo(at.x, at.y);
      context.stroke();
      drawn = true;
    });
    var stop = function () { drawing = false; };
    canvas.addEventListener("pointerup", stop);
    canvas.addEventListener("pointercancel", stop);
    document.getElementById("signature-clear").addEventListener("click", function () {
      context.clearRect(0, 0, canvas.width, canvas.height);
      drawn = false;
    });
    document.getElementById("sign-form").addEventListener("submit", function () {
      // A drawn signature wins over an empty typed name; the server checks the PNG.
      document.getElementById("signature-png").value = drawn ? canvas.toDataURL("image/png") : "";
    });
    canvas.dataset.ready = "true";  // the handlers are in place (tests wait for it)
  }

  var waiting = document.getElementById("signing-status");
  if (waiting) {
    var poll = function () {
      var xhr = new XMLHttpRequest();
      xhr.open("GET", waiting.dataset.statusUrl);
      xhr.setRequestHeader("Accept", "application/json");
      xhr.onload = function () {
        var answer = null;
        try { answer = JSON.parse(xhr.responseText); } catch (ignored) { answer = null; }
        if (xhr.status !== 200 || !answer) { window.location.reload(); return; }
        var finished = ["signed", "approved", "declined"].indexOf(answer.inviteeState) >= 0;
        if (finished || answer.signingRequest === "applied") {
          window.location.assign(waiting.dataset.doneUrl);
        } else {
          window.setTimeout(poll, 2000);
        }
      };
      xhr.onerror = function () { window.setTimeout(poll, 5000); };
      xhr.send();
    };
    window.setTimeout(poll, 1500);
  }
}());
