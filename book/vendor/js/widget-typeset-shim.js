/* The widget renderer (@jupyter-widgets/html-manager) typesets widget labels with the MathJax 2 API,
   MathJax.Hub.Queue(["Typeset", MathJax.Hub, element]). The book bundles MathJax 3, which has no Hub:
   without this shim every page with a widget logs "Cannot read properties of undefined (reading 'Queue')".
   The shim forwards such calls to MathJax 3's typesetPromise. */
(function () {
  function install() {
    var mj = (window.MathJax = window.MathJax || {});
    if (mj.Hub) return;
    mj.Hub = {
      Queue: function () {
        for (var i = 0; i < arguments.length; i++) {
          var job = arguments[i];
          var element = Array.isArray(job) ? job[2] : null;
          if (element && window.MathJax.typesetPromise) {
            window.MathJax.typesetPromise([element]).catch(function () {});
          }
        }
      },
    };
  }
  install();
  document.addEventListener("DOMContentLoaded", install);
})();
