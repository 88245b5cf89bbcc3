// The Translations page: as a text is typed, the server checks it (the same checks saving runs) and the answer
// shows under the text: problems by check name, and the facts (GSM-7 or not, SMS parts, longest USSD screen).
// Without this script the page still works: saving checks the text and says what failed.
(function () {
  "use strict";
  var table = document.querySelector("table.translations[data-check-url]");
  if (!table || !window.fetch) return;
  var url = table.getAttribute("data-check-url");
  var token = document.querySelector("meta[name=csrf-token]").getAttribute("content");
  var timers = {};
  var asked = {};

  function line(text, cls) {
    var p = document.createElement("p");
    p.className = cls;
    p.textContent = text;
    return p;
  }

  function show(area, answer) {
    var box = area.parentNode.querySelector(".checks");
    box.textContent = "";
    answer.problems.forEach(function (problem) {
      box.appendChild(line(problem.name + ": " + problem.message, "error"));
    });
    if (answer.ok) box.appendChild(line("All checks pass.", "fact ok"));
    if (answer.sms_parts !== null) {
      box.appendChild(line("SMS at its longest: " + answer.sms_chars + " characters, " +
        (answer.gsm7 ? "GSM-7" : "not GSM-7 (70 a part)") + ", " + answer.sms_parts +
        (answer.sms_parts === 1 ? " part." : " parts."), "fact"));
    }
    if (answer.screen_chars !== null) {
      box.appendChild(line("Longest USSD screen in this language: " + answer.screen_chars + " of " +
        answer.screen_limit + " characters.", "fact"));
    }
    area.setAttribute("aria-invalid", answer.ok ? "false" : "true");
  }

  function check(area) {
    var key = area.getAttribute("data-key");
    var mine = (asked[key] || 0) + 1;
    asked[key] = mine;
    fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRFToken": token, "Accept": "application/json"},
      body: JSON.stringify({key: key, text: area.value})
    }).then(function (response) {
      if (!response.ok) throw new Error(String(response.status));
      return response.json();
    }).then(function (answer) {
      if (asked[key] === mine) show(area, answer); // an older answer never replaces a newer one
    }).catch(function () {
      var box = area.parentNode.querySelector(".checks");
      box.textContent = "";
      box.appendChild(line("Could not check just now; saving will check it.", "fact"));
    });
  }

  table.addEventListener("input", function (event) {
    var area = event.target;
    if (area.tagName !== "TEXTAREA") return;
    var key = area.getAttribute("data-key");
    clearTimeout(timers[key]);
    timers[key] = setTimeout(function () { check(area); }, 300);
  });
})();
