// The field editor of a draft dossier: fields are placed by clicking on the rendered pages,
// moved by dragging or with the arrow keys, and saved per document as the API takes them
// (PDF points from the page's lower-left corner). Page images show the page's visible box
// turned by its rotation, so clicks are mapped back through that turn. No framework; CSP
// script-src 'self' (positions are set through the CSSOM, which style-src allows).
(function () {
  "use strict";
  var editor = document.getElementById("field-editor");
  var source = document.getElementById("editor-data");
  if (!editor || !source) { return; }
  var data = JSON.parse(source.textContent);
  var inviteeSelect = document.getElementById("field-invitee");
  var typeSelect = document.getElementById("field-type");
  var status = document.getElementById("editor-status");
  var errorList = document.getElementById("editor-errors");
  // Default sizes in points, as the field is shown (width, height).
  var SIZES = { signature: [180, 50], initials: [60, 30], date: [100, 20], text: [160, 20], checkbox: [14, 14] };
  var STEP = 1, BIG_STEP = 10;
  var names = {}, colours = {};
  data.invitees.forEach(function (person) { names[person.id] = person.name; colours[person.id] = person.colour; });
  var documents = {};
  data.documents.forEach(function (doc) { documents[doc.id] = doc; });
  var typeNames = {};
  Array.prototype.forEach.call(typeSelect.options, function (option) { typeNames[option.value] = option.textContent; });

  function shown(box) {
    var turned = box.rotation === 90 || box.rotation === 270;
    return { width: turned ? box.height : box.width, height: turned ? box.width : box.height };
  }
  // A point of the shown page (points from its top-left corner) in PDF user space, and back.
  function toPdf(box, dx, dy) {
    var L = box.left, B = box.bottom, W = box.width, H = box.height;
    switch (box.rotation) {
      case 90: return [L + dy, B + dx];
      case 180: return [L + W - dx, B + dy];
      case 270: return [L + W - dy, B + H - dx];
      default: return [L + dx, B + H - dy];
    }
  }
  function toShown(box, x, y) {
    var L = box.left, B = box.bottom, W = box.width, H = box.height;
    switch (box.rotation) {
      case 90: return [y - B, x - L];
      case 180: return [L + W - x, y - B];
      case 270: return [B + H - y, L + W - x];
      default: return [x - L, B + H - y];
    }
  }
  function round(value) { return Math.round(value * 100) / 100; }
  // The field's rectangle on the shown page {left, top, width, height}, from its PDF box.
  function shownRect(box, field) {
    var a = toShown(box, field.x, field.y), b = toShown(box, field.x + field.width, field.y + field.height);
    return { left: Math.min(a[0], b[0]), top: Math.min(a[1], b[1]), width: Math.abs(a[0] - b[0]), height: Math.abs(a[1] - b[1]) };
  }
  function setFromShown(box, field, rect) {
    var size = shown(box);
    rect.left = Math.max(0, Math.min(rect.left, size.width - rect.width));
    rect.top = Math.max(0, Math.min(rect.top, size.height - rect.height));
    var a = toPdf(box, rect.left, rect.top), b = toPdf(box, rect.left + rect.width, rect.top + rect.height);
    field.x = round(Math.min(a[0], b[0]));
    field.y = round(Math.min(a[1], b[1]));
    field.width = round(Math.abs(a[0] - b[0]));
    field.height = round(Math.abs(a[1] - b[1]));
    // Rounding must not push the box off the page (the server checks it lies within).
    field.x = Math.max(box.left, Math.min(field.x, round(box.left + box.width - field.width)));
    field.y = Math.max(box.bottom, Math.min(field.y, round(box.bottom + box.height - field.height)));
  }

  function label(field) {
    return editor.dataset.fieldLabel
      .replace("%(type)s", typeNames[field.type] || field.type)
      .replace("%(name)s", names[field.inviteeId] || "")
      .replace("%(page)s", String(field.page));
  }
  function changed() { status.textContent = editor.dataset.unsaved; }

  function draw(docId) {
    var doc = documents[docId];
    var container = document.querySelector('.document-pages[data-document="' + docId + '"]');
    Array.prototype.forEach.call(container.querySelectorAll(".field, .field-error"), function (el) { el.remove(); });
    doc.fields.forEach(function (field, index) {
      if (field.page === null || field.x === null) { return; }  // an existing field shown on no page
      var sheet = container.querySelector('.page-sheet[data-page="' + field.page + '"]');
      if (!sheet) { return; }
      var box = doc.pages[field.page - 1], size = shown(box), rect = shownRect(box, field);
      var el = document.createElement("button");
      el.type = "button";
      el.className = "field invitee-" + (colours[field.inviteeId] || 0) + (field.error ? " invalid" : "");
      el.dataset.index = String(index);
      el.dataset.type = field.type;
      el.textContent = typeNames[field.type] || field.type;
      el.setAttribute("aria-label", label(field));
      el.style.left = (rect.left / size.width * 100) + "%";
      el.style.top = (rect.top / size.height * 100) + "%";
      el.style.width = (rect.width / size.width * 100) + "%";
      el.style.height = (rect.height / size.height * 100) + "%";
      sheet.appendChild(el);
      if (field.error) {
        var note = document.createElement("span");
        note.className = "field-error";
        note.id = "field-error-" + docId + "-" + index;
        note.textContent = field.error;
        note.style.left = el.style.left;
        note.style.top = ((rect.top + rect.height) / size.height * 100) + "%";
        sheet.appendChild(note);
        el.setAttribute("aria-invalid", "true");
        el.setAttribute("aria-describedby", note.id);
      }
      if (field.fieldName) { el.disabled = true; return; }  // the PDF's own field stays where it is
      attach(el, docId, index, sheet);
    });
  }

  function focusField(docId, index) {
    var el = document.querySelector('.document-pages[data-document="' + docId + '"] .field[data-index="' + index + '"]');
    if (el) { el.focus(); }
  }

  function moveBy(docId, index, dx, dy) {
    var doc = documents[docId], field = doc.fields[index], box = doc.pages[field.page - 1];
    var rect = shownRect(box, field);
    rect.left += dx; rect.top += dy;
    setFromShown(box, field, rect);
    field.error = null;
    changed();
    draw(docId);
    focusField(docId, index);
  }

  function attach(el, docId, index, sheet) {
    var dragging = null;
    el.addEventListener("pointerdown", function (event) {
      event.stopPropagation();
      var doc = documents[docId], field = doc.fields[index];
      dragging = { x: event.clientX, y: event.clientY, scale: sheet.clientWidth / shown(doc.pages[field.page - 1]).width, moved: false };
      el.setPointerCapture(event.pointerId);
    });
    el.addEventListener("pointermove", function (event) {
      if (!dragging) { return; }
      var dx = (event.clientX - dragging.x) / dragging.scale, dy = (event.clientY - dragging.y) / dragging.scale;
      if (Math.abs(dx) + Math.abs(dy) < 1) { return; }
      dragging.x = event.clientX; dragging.y = event.clientY; dragging.moved = true;
      var doc = documents[docId], field = doc.fields[index], box = doc.pages[field.page - 1];
      var rect = shownRect(box, field);
      rect.left += dx; rect.top += dy;
      setFromShown(box, field, rect);
      var size = shown(box), now = shownRect(box, field);
      el.style.left = (now.left / size.width * 100) + "%";
      el.style.top = (now.top / size.height * 100) + "%";
    });
    el.addEventListener("pointerup", function () {
      if (dragging && dragging.moved) { documents[docId].fields[index].error = null; changed(); draw(docId); focusField(docId, index); }
      dragging = null;
    });
    el.addEventListener("click", function (event) { event.stopPropagation(); });
    el.addEventListener("keydown", function (event) {
      var step = event.shiftKey ? BIG_STEP : STEP;
      var moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
      if (moves[event.key]) {
        event.preventDefault();
        moveBy(docId, index, moves[event.key][0], moves[event.key][1]);
      } else if (event.key === "Delete" || event.key === "Backspace") {
        event.preventDefault();
        documents[docId].fields.splice(index, 1);
        changed();
        draw(docId);
      }
    });
  }

  function place(docId, pageNumber, left, top) {
    var doc = documents[docId], box = doc.pages[pageNumber - 1];
    var type = typeSelect.value, wanted = SIZES[type] || SIZES.text;
    var field = { inviteeId: inviteeSelect.value, type: type, page: pageNumber, required: true };
    setFromShown(box, field, { left: left, top: top, width: wanted[0], height: wanted[1] });
    doc.fields.push(field);
    changed();
    draw(docId);
    focusField(docId, doc.fields.length - 1);
  }

  Array.prototype.forEach.call(document.querySelectorAll(".document-pages"), function (container) {
    var docId = container.dataset.document;
    Array.prototype.forEach.call(container.querySelectorAll(".page-sheet"), function (sheet) {
      var pageNumber = Number(sheet.dataset.page);
      sheet.addEventListener("click", function (event) {
        var bounds = sheet.getBoundingClientRect();
        var size = shown(documents[docId].pages[pageNumber - 1]), scale = bounds.width / size.width;
        place(docId, pageNumber, (event.clientX - bounds.left) / scale, (event.clientY - bounds.top) / scale);
      });
    });
    draw(docId);
  });

  document.getElementById("field-add").addEventListener("click", function () {
    var first = data.documents[0];
    if (first) { place(first.id, 1, 36, 36); }
  });

  function payload(doc) {
    return {
      fields: doc.fields.map(function (field) {
        var out = { inviteeId: field.inviteeId, type: field.type, required: field.required !== false };
        if (field.label) { out.label = field.label; }
        if (field.fieldName) { out.fieldName = field.fieldName; return out; }
        out.page = field.page; out.x = field.x; out.y = field.y; out.width = field.width; out.height = field.height;
        return out;
      })
    };
  }

  function showProblem(doc, problem) {
    var general = document.createElement("p");
    general.className = "error";
    general.textContent = doc.name + ": " + problem.detail;
    errorList.appendChild(general);
    (problem.errors || []).forEach(function (item) {
      var match = /^\/fields\/(\d+)/.exec(item.pointer || "");
      if (match && doc.fields[Number(match[1])]) {
        doc.fields[Number(match[1])].error = item.message;
      } else {
        var line = document.createElement("p");
        line.className = "error";
        line.textContent = item.message;
        errorList.appendChild(line);
      }
    });
    draw(doc.id);
  }

  function save(index) {
    if (index >= data.documents.length) {
      status.textContent = errorList.childElementCount ? editor.dataset.failed : editor.dataset.saved;
      return;
    }
    var doc = data.documents[index];
    doc.fields.forEach(function (field) { field.error = null; });
    var xhr = new XMLHttpRequest();
    xhr.open("PUT", data.base + "/documents/" + doc.id + "/fields");
    xhr.setRequestHeader("Content-Type", "application/json");
    xhr.setRequestHeader("X-CSRF-Token", editor.dataset.csrf);
    xhr.onload = function () {
      var answer = null;
      try { answer = JSON.parse(xhr.responseText); } catch (ignored) { answer = null; }
      if (xhr.status === 200 && answer) {
        doc.fields = answer.fields;
        draw(doc.id);
      } else {
        showProblem(doc, answer && answer.detail ? answer : { detail: editor.dataset.failed + " (" + xhr.status + ")", errors: [] });
      }
      save(index + 1);
    };
    xhr.onerror = function () { showProblem(doc, { detail: editor.dataset.failed, errors: [] }); save(index + 1); };
    xhr.send(JSON.stringify(payload(doc)));
  }

  document.getElementById("fields-save").addEventListener("click", function () {
    errorList.textContent = "";
    save(0);
  });
  editor.dataset.ready = "true";  // the handlers are in place (tests wait for it)
}());
