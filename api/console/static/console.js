// Live run progress from the console's SSE stream: each finished step is listed; at the end
// the page reloads and the server renders the answer. No build step, no framework.
document.addEventListener("DOMContentLoaded", () => {
  for (const box of document.querySelectorAll("[data-run-events]")) {
    const list = box.querySelector("ol");
    const source = new EventSource(box.dataset.runEvents);
    source.addEventListener("step", (event) => {
      const step = JSON.parse(event.data);
      const item = document.createElement("li");
      item.textContent = `${step.node.replaceAll("_", " ")}: ${step.status}`;
      list.appendChild(item);
    });
    source.addEventListener("end", () => {
      source.close();
      window.location.reload();
    });
    source.addEventListener("timeout", () => source.close());
  }
});

// Queue keyboard navigation: j / k move between rows (focus lands on the row's link).
document.addEventListener("keydown", (event) => {
  if (!["j", "k"].includes(event.key) || event.target.closest("input, textarea, select")) return;
  const links = [...document.querySelectorAll("[data-keyboard-rows] tbody tr td:first-child a")];
  if (!links.length) return;
  const at = links.indexOf(document.activeElement);
  const next = event.key === "j" ? Math.min(at + 1, links.length - 1) : Math.max(at - 1, 0);
  links[next].focus();
  event.preventDefault();
});
