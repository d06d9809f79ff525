(function () {
  "use strict";
  /* Method pages: a "Copy" button on each citation and command block. The text is selected first, so
     where the clipboard API is refused (some browsers on file://) Ctrl+C still copies it. */
  Array.prototype.forEach.call(document.querySelectorAll("pre[data-copy]"), function (pre) {
    var button = document.createElement("button");
    button.type = "button";
    button.className = "copy";
    button.textContent = "Copy";
    button.setAttribute("aria-label", "copy " + pre.getAttribute("data-copy"));
    button.addEventListener("click", function () {
      var range = document.createRange();
      range.selectNodeContents(pre);
      var selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      function done(ok) { button.textContent = ok ? "Copied" : "Selected: press Ctrl+C"; }
      if (navigator.clipboard && navigator.clipboard.writeText) {
        navigator.clipboard.writeText(pre.textContent).then(function () { done(true); }, function () { done(false); });
      } else {
        done(false);
      }
    });
    pre.parentNode.insertBefore(button, pre);
  });
})();
