// A JupyterLab plugin of the course's hub, written by hand as a federated extension's container
// (what `jupyter labextension build` would make: _JUPYTERLAB[name] with get() and init()); it
// needs no shared module, so nothing is built and nothing is downloaded.
//
// nbgrader's Assignments tab (0.9) makes "(view feedback)" run `filebrowser:go-to-path` on the
// feedback folder, which only shows that folder. Whenever that command runs on a path that ends in
// feedback/<timestamp>, each HTML page of the folder is opened too, in JupyterLab's HTML viewer
// (untrusted: the page is shown without running scripts).
var _JUPYTERLAB;
(function () {
  "use strict";
  var FEEDBACK_FOLDER = /(^|\/)feedback\/[^\/]+\/?$/;
  var plugin = {
    id: "course-hub-feedback:open-feedback",
    description: "Open the feedback page that nbgrader's '(view feedback)' link points to.",
    autoStart: true,
    requires: [],
    activate: function (app) {
      app.commands.commandExecuted.connect(function (_, executed) {
        var path = (executed.args && executed.args.path) || "";
        if (executed.id !== "filebrowser:go-to-path" || !FEEDBACK_FOLDER.test(path)) {
          return;
        }
        app.serviceManager.contents.get(path.replace(/\/$/, ""), { content: true }).then(function (folder) {
          (folder.content || []).forEach(function (item) {
            if (item.type === "file" && /\.html$/.test(item.name)) {
              app.commands.execute("docmanager:open", { path: item.path, factory: "HTML Viewer" });
            }
          });
        }).catch(function (err) { console.warn("course-hub-feedback: cannot list " + path, err); });
      });
    }
  };
  _JUPYTERLAB = _JUPYTERLAB === undefined ? {} : _JUPYTERLAB;
  _JUPYTERLAB["course-hub-feedback"] = {
    init: function () { return Promise.resolve(); },
    get: function (module) {
      if (module !== "./extension") {
        return Promise.reject(new Error("course-hub-feedback has no module " + module));
      }
      return Promise.resolve(function () { return { __esModule: true, default: [plugin] }; });
    }
  };
})();
