// Renders every ```mermaid code block of a page as a diagram, with mermaid's own script
// (mermaid.min.js, fetched by scripts/build-docs). The text stays in the page's source, so
// the diagrams are the same text the tests pin.
(function () {
  "use strict";
  if (typeof mermaid === "undefined") {
    return;
  }
  var blocks = document.querySelectorAll("code.language-mermaid");
  if (blocks.length === 0) {
    return;
  }
  blocks.forEach(function (code) {
    var diagram = document.createElement("pre");
    diagram.className = "mermaid";
    diagram.textContent = code.textContent;
    code.parentElement.replaceWith(diagram);
  });
  var root = document.documentElement.classList;
  var dark = ["coal", "navy", "ayu"].some(function (theme) {
    return root.contains(theme);
  });
  mermaid.initialize({
    startOnLoad: false,
    securityLevel: "strict",
    theme: dark ? "dark" : "default",
    gantt: { useWidth: 700 },
  });
  mermaid.run({ querySelector: "pre.mermaid" });
})();
