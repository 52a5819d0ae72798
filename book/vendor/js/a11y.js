// Accessibility fixes of the theme's markup, loaded on every page of the book (see _config.yml).
// - The course title (a link home) at the top of the left sidebar sits outside every landmark, so a
//   screen reader's landmark navigation skips it (axe-core rule `region`): give it a navigation landmark.
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll(".bd-sidebar-primary .sidebar-primary-item").forEach(function (item) {
    if (item.querySelector("a.navbar-brand") && !item.closest("nav, [role=navigation], header, main, footer, aside")) {
      item.setAttribute("role", "navigation");
      item.setAttribute("aria-label", "Course home");
    }
  });
});
