// the chat's theme (?__theme=dark|light, as Gradio's links), kept for the tab's later pages; without
// one the page follows prefers-color-scheme (viewer.css). Runs in <head>: no light flash.
(function () {
  var theme = null;
  try { theme = new URLSearchParams(location.search).get("__theme") || sessionStorage.getItem("policy-qa-theme"); } catch (e) {}
  if (theme === "dark" || theme === "light") {
    document.documentElement.setAttribute("data-theme", theme);
    try { sessionStorage.setItem("policy-qa-theme", theme); } catch (e) {}
  }
})();
