// The console's only script. Everything works without it; it adds an upload progress bar to the CSV import,
// and lets the USSD phone's keypad type into the answer without a trip to the server.
(function () {
  "use strict";
  var form = document.getElementById("import-form");
  if (!form || !window.FormData || !window.XMLHttpRequest) return;
  form.addEventListener("submit", function (event) {
    var file = form.querySelector("input[type=file]");
    if (!file.files.length) return; // let the server say a file is needed
    event.preventDefault();
    var box = document.getElementById("import-progress");
    var bar = document.getElementById("upload-bar");
    var label = document.getElementById("upload-label");
    var error = form.querySelector("[data-error-for=file]");
    var button = form.querySelector("button[type=submit]");
    error.hidden = true;
    box.hidden = false;
    button.disabled = true;
    var xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.addEventListener("progress", function (e) {
      if (e.lengthComputable) {
        bar.value = Math.round((e.loaded / e.total) * 100);
        label.textContent = "Uploading… " + bar.value + " %";
      }
    });
    xhr.upload.addEventListener("load", function () {
      bar.removeAttribute("value"); // indeterminate while the server reads the rows
      label.textContent = "Checking and enrolling the rows…";
    });
    xhr.addEventListener("load", function () {
      var answer = null;
      try { answer = JSON.parse(xhr.responseText); } catch (e) { answer = null; }
      if (answer && answer.report_url) { window.location.assign(answer.report_url); return; }
      box.hidden = true;
      button.disabled = false;
      var errors = (answer && answer.errors) || {file: "The upload failed (" + xhr.status + "). Try again."};
      var parts = [];
      for (var key in errors) { if (Object.prototype.hasOwnProperty.call(errors, key)) parts.push(errors[key]); }
      error.textContent = parts.join("; ");
      error.hidden = false;
    });
    xhr.addEventListener("error", function () {
      box.hidden = true;
      button.disabled = false;
      error.textContent = "The connection dropped during the upload. Try again.";
      error.hidden = false;
    });
    xhr.send(new FormData(form));
  });
})();
(function () {
  "use strict";
  var keypad = document.getElementById("keypad");
  var answer = document.getElementById("f-answer");
  var form = document.getElementById("phone-form");
  if (!keypad || !answer || !form) return;
  form.addEventListener("click", function (event) {
    var key = event.target.closest ? event.target.closest("button[name=key]") : null;
    if (!key) return;
    event.preventDefault(); // without this script the key is posted, and the server types it
    if (key.value === "del") answer.value = answer.value.slice(0, -1);
    else if (answer.value.length < answer.maxLength) answer.value += key.value;
    answer.focus();
  });
})();
