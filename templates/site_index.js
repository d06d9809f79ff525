(function () {
  "use strict";
  /* The methods table of index.html: one filter per facet of `kdtax list` (values combine with AND, as
     its options do), full-text search (every word must occur, as `kdtax list --search`), live counts per
     facet value, sortable columns, and the state kept in the URL fragment (#knowledge=...&search=...).
     Everything it reads is in the page's data attributes; the page works without it. */
  var table = document.getElementById("methods");
  var panel = document.getElementById("facets");
  var tools = document.getElementById("tools");
  var search = document.getElementById("search");
  var shown = document.getElementById("shown");
  var clear = document.getElementById("clear");
  if (!table || !panel || !tools || !search || !shown || !clear) { return; }
  var body = table.tBodies[0];

  function fold(text) { return text.toLowerCase().replace(/[\s_\-]+/g, " "); }

  var rows = [];
  for (var i = 0; i < body.rows.length; i++) {
    var tr = body.rows[i];
    var set = Object.create(null);
    var tokens = (tr.getAttribute("data-terms") || "").split(" ");
    for (var k = 0; k < tokens.length; k++) { if (tokens[k]) { set[tokens[k]] = true; } }
    rows.push({ tr: tr, tokens: tokens, set: set, text: fold(tr.getAttribute("data-text") || "") });
  }
  var boxes = Array.prototype.slice.call(panel.querySelectorAll("input[type=checkbox]"));
  var counters = {};
  Array.prototype.forEach.call(panel.querySelectorAll("[data-count]"), function (el) {
    counters[el.getAttribute("data-count")] = el;
  });

  function writeHash() {
    var parts = [];
    boxes.forEach(function (b) {
      if (b.checked) { parts.push(encodeURIComponent(b.name) + "=" + encodeURIComponent(b.value.split(":")[1])); }
    });
    if (search.value) { parts.push("search=" + encodeURIComponent(search.value)); }
    var url = parts.length ? "#" + parts.join("&") : location.pathname + location.search;
    try { history.replaceState(null, "", url); } catch (e) { /* some browsers refuse it on file:// */ }
  }

  function readHash() {
    var text = location.hash.replace(/^#/, "");
    if (!text) { return; }
    text.split("&").forEach(function (part) {
      var eq = part.indexOf("=");
      if (eq < 0) { return; }
      var key = decodeURIComponent(part.slice(0, eq)), value = decodeURIComponent(part.slice(eq + 1));
      if (key === "search") { search.value = value; return; }
      boxes.forEach(function (b) {
        if (b.name === key && b.value.split(":")[1] === value) { b.checked = true; }
      });
    });
  }

  function apply(updateHash) {
    var wanted = boxes.filter(function (b) { return b.checked; }).map(function (b) { return b.value; });
    var words = fold(search.value).split(" ").filter(function (w) { return w !== ""; });
    var counts = Object.create(null);
    var visible = 0;
    for (var r = 0; r < rows.length; r++) {
      var row = rows[r], ok = true;
      for (var w = 0; ok && w < wanted.length; w++) { ok = row.set[wanted[w]] === true; }
      for (var s = 0; ok && s < words.length; s++) { ok = row.text.indexOf(words[s]) >= 0; }
      if (row.tr.hidden === ok) { row.tr.hidden = !ok; }
      if (ok) {
        visible++;
        for (var t = 0; t < row.tokens.length; t++) { counts[row.tokens[t]] = (counts[row.tokens[t]] || 0) + 1; }
      }
    }
    for (var key in counters) {
      var n = counts[key] || 0;
      counters[key].textContent = "(" + n + ")";
      counters[key].parentNode.className = n ? "" : "zero";
    }
    shown.textContent = visible + " of " + rows.length + " configurations shown";
    document.body.setAttribute("data-filtered", String(visible));
    if (updateHash) { writeHash(); }
  }

  panel.addEventListener("change", function () { apply(true); });
  search.addEventListener("input", function () { apply(true); });
  clear.addEventListener("click", function () {
    boxes.forEach(function (b) { b.checked = false; });
    search.value = "";
    apply(true);
  });
  window.addEventListener("hashchange", function () {
    boxes.forEach(function (b) { b.checked = false; });
    search.value = "";
    readHash();
    apply(false);
  });

  var heads = table.tHead.rows[0].cells;
  Array.prototype.forEach.call(heads, function (head, col) {
    head.title = "sort by this column";
    head.tabIndex = 0;
    function sort() {
      var up = head.getAttribute("data-dir") !== "up";
      Array.prototype.forEach.call(heads, function (h) { h.removeAttribute("data-dir"); });
      head.setAttribute("data-dir", up ? "up" : "down");
      var keyed = rows.map(function (row) { return [row.tr.cells[col].textContent, row]; });
      keyed.sort(function (a, b) {
        var n = Number(a[0]) - Number(b[0]);
        var d = isNaN(n) || a[0] === "" || b[0] === "" ? a[0].localeCompare(b[0]) : n;
        return up ? d : -d;
      });
      var fragment = document.createDocumentFragment();
      keyed.forEach(function (pair) { fragment.appendChild(pair[1].tr); });
      body.appendChild(fragment);
    }
    head.addEventListener("click", sort);
    head.addEventListener("keydown", function (e) { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sort(); } });
  });

  tools.hidden = false;
  panel.hidden = false;
  readHash();
  apply(false);
  document.body.setAttribute("data-ready", "1");
})();
