(function () {
  function squash(s) { return s.replace(/\s+/g, ""); }
  function markText(el, quote) {
    var wanted = squash(quote);
    if (wanted.length < 2) return false;
    var walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT), flat = "", map = [], node;
    while ((node = walker.nextNode())) {
      for (var i = 0; i < node.data.length; i++) {
        if (!/\s/.test(node.data[i])) { flat += node.data[i]; map.push([node, i]); }
      }
    }
    var at = flat.indexOf(wanted);
    if (at < 0) return false;
    var start = map[at], end = map[at + wanted.length - 1];
    var range = document.createRange();
    range.setStart(start[0], start[1]);
    range.setEnd(end[0], end[1] + 1);
    if (start[0] === end[0]) {
      var mark = document.createElement("mark");
      range.surroundContents(mark);
    } else {
      // the quote spans several cells or nodes: mark each text node's part separately
      var nodes = [], w2 = document.createTreeWalker(el, NodeFilter.SHOW_TEXT), n2;
      while ((n2 = w2.nextNode())) { if (range.intersectsNode(n2)) nodes.push(n2); }
      nodes.forEach(function (t) {
        var r = document.createRange();
        r.setStart(t, t === start[0] ? start[1] : 0);
        r.setEnd(t, t === end[0] ? end[1] + 1 : t.data.length);
        if (!r.collapsed && squash(r.toString())) r.surroundContents(document.createElement("mark"));
      });
    }
    return true;
  }
  function show() {
    var old = document.querySelectorAll(".highlight");
    for (var i = 0; i < old.length; i++) old[i].classList.remove("highlight");
    var id;
    try { id = decodeURIComponent(location.hash.slice(1)); } catch (e) { return; }  // malformed %-escape
    if (!id) return;
    var el = document.getElementById(id) || document.getElementById(id.replace(/-p\d+$/, ""));
    if (!el) return;
    el.classList.add("highlight");
    var quotes = new URLSearchParams(location.search).getAll("q");
    for (var k = 0; k < quotes.length; k++) {
      if (el.querySelector("mark") || markText(el, quotes[k])) break;
    }
    el.scrollIntoView({ block: "center" });
  }
  window.addEventListener("hashchange", show);
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", show); else show();

  // ---- find in this report: every match marked (mark.find), the current one scrolled to (next / previous)
  var found = [], at = -1, MAX_FOUND = 2000;
  function clearFound() {
    found.forEach(function (mark) {
      var parent = mark.parentNode;
      if (!parent) return;
      parent.replaceChild(document.createTextNode(mark.textContent), mark);
      parent.normalize();
    });
    found = []; at = -1;
  }
  function search(text) {
    clearFound();
    var wanted = text.trim().toLowerCase(), root = document.querySelector("main");
    if (!wanted || !root) return;
    var walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT), nodes = [], node;
    while ((node = walker.nextNode())) nodes.push(node);
    for (var n = 0; n < nodes.length && found.length < MAX_FOUND; n++) {
      var current = nodes[n], lower = current.data.toLowerCase(), from = lower.indexOf(wanted);
      while (from >= 0 && found.length < MAX_FOUND) {
        var range = document.createRange();
        range.setStart(current, from);
        range.setEnd(current, from + wanted.length);
        var mark = document.createElement("mark");
        mark.className = "find";
        range.surroundContents(mark);
        found.push(mark);
        current = mark.nextSibling;  // the rest of the text node, after the mark
        if (!current || current.nodeType !== 3) break;
        lower = current.data.toLowerCase(); from = lower.indexOf(wanted);
      }
    }
  }
  function go(step) {
    var count = document.getElementById("find-count");
    if (!found.length) { if (count) count.textContent = document.getElementById("find").value.trim() ? "无结果" : ""; return; }
    if (at >= 0) found[at].classList.remove("current");
    at = (at + step + found.length) % found.length;
    found[at].classList.add("current");
    found[at].scrollIntoView({ block: "center" });
    if (count) count.textContent = (at + 1) + "/" + found.length + (found.length >= MAX_FOUND ? "+" : "");
  }
  function setUpFind() {
    var input = document.getElementById("find");
    if (!input) return;
    var timer = null, searched = "";
    function run(step) {
      if (input.value !== searched) { searched = input.value; search(searched); at = -1; go(1); } else go(step);
    }
    input.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(function () { run(1); }, 250); });
    input.addEventListener("keydown", function (event) {
      if (event.key === "Enter") { event.preventDefault(); clearTimeout(timer); run(event.shiftKey ? -1 : 1); }
      if (event.key === "Escape") { input.value = ""; run(1); }
    });
    document.getElementById("find-next").addEventListener("click", function () { run(1); });
    document.getElementById("find-prev").addEventListener("click", function () { run(-1); });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", setUpFind); else setUpFind();
})();
