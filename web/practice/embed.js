/*
 * Chairside "Request an appointment" button for a practice's own website.
 *
 *   <script src="https://<your Chairside site>/practice/embed.js" data-practice="<practice id>"
 *           data-label="Request an appointment" data-lang="en" async></script>
 *
 * It puts one link styled as a button right after the script tag; the link opens the practice's
 * public page on the Chairside site at its request form. No cookies, no tracking, nothing loaded
 * from anywhere else. A classic script (not a module) so it works on any site.
 */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || !script.src) return;
  var practice = script.getAttribute("data-practice") || "";
  if (!practice) return;
  var lang = script.getAttribute("data-lang") === "es" ? "es" : "en";
  var label = script.getAttribute("data-label") || (lang === "es" ? "Pida una cita" : "Request an appointment");
  var page = new URL("./", script.src);
  page.searchParams.set("practice", practice);
  if (lang === "es") page.searchParams.set("lang", "es");
  page.hash = "request";
  var link = document.createElement("a");
  link.href = page.toString();
  link.textContent = label;
  link.className = "chairside-request";
  link.target = "_blank";
  link.rel = "noopener";
  var style = link.style;
  style.display = "inline-block";
  style.padding = "0.7em 1.2em";
  style.borderRadius = "8px";
  style.background = script.getAttribute("data-color") || "#0f766e";
  style.color = "#fff";
  style.font = "600 1rem/1.2 system-ui, sans-serif";
  style.textDecoration = "none";
  script.parentNode.insertBefore(link, script.nextSibling);
})();
