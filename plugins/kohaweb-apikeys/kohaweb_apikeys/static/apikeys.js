// Progressive enhancement for the "Manage API keys" page: copy buttons for the new client
// id/secret. Without JavaScript the buttons stay hidden and the read-only fields can be
// selected and copied by hand.
(function () {
  "use strict";
  var status = document.querySelector(".fresh-key .copy-status");
  function say(text) { if (status) { status.textContent = text; } }
  document.querySelectorAll("button.copy").forEach(function (button) {
    var field = document.getElementById(button.getAttribute("data-copy"));
    if (!field) { return; }
    button.hidden = false;
    button.addEventListener("click", function () {
      var label = button.textContent.replace(/^Copy /, "");
      var copied = function () { say("Copied the " + label + " to the clipboard."); };
      var fallback = function () {
        field.focus();
        field.select();
        // older API, still the only one without a secure context
        if (document.execCommand && document.execCommand("copy")) { copied(); }
        else { say("Select the " + label + " and copy it with your keyboard."); }
      };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(field.value).then(copied, fallback);
      } else {
        fallback();
      }
    });
  });
}());
