// The webview half of the stand-in: what vscode-jupyter runs inside the notebook webview
// (src/webviews/webview-side/ipywidgets/kernel/{index,kernel,manager,scriptManager}.ts),
// reduced to the paths a kernel-backed anywidget takes:
//  - on start it waits for window.vscIPyWidgets8 (set by the package's activate()), calls
//    load() (which defines @jupyter-widgets/* for require.js and injects the package's CSS,
//    JupyterLab's light labvariables.css included) and says IPyWidgets_Ready;
//  - on IPyWidgets_kernelOptions it builds the proxy kernel: a real @jupyterlab/services
//    KernelConnection whose WebSocket is a stand-in fed by the extension's posts (binary
//    frames decoded back from byte arrays with deserializeDataViews) and whose sends go back
//    to the extension (binary ones encoded with serializeDataViews), then constructs
//    window.vscIPyWidgets.WidgetManager(kernel, el, scriptLoader, logger);
//  - widget modules the manager cannot find (anywidget) are asked of the extension and
//    registered as require.js paths, like its ScriptManager;
//  - renderWidget() follows manager.ts: wait for the model, create_view, display_view.

import { KernelConnection } from '@jupyterlab/services/lib/kernel/default';
import { ServerConnection } from '@jupyterlab/services';
import { serializeDataViews, deserializeDataViews } from './serializers.js';

const noop = () => undefined;

function createProxyKernel(options, post) {
  let socket;
  const protocol = options.protocol;
  class ProxyWebSocket {
    constructor() {
      this.onopen = null;
      this.onmessage = null;
      this.onclose = null;
      this.onerror = null;
      this.sendEnabled = true;
      this.protocol = protocol;
      this.readyState = 1;
      socket = this;
    }
    close() {}
    send(data) {
      if (!this.sendEnabled) return;
      if (typeof data === 'string') {
        post('IPyWidgets_msg', data);
      } else {
        post('IPyWidgets_binary_msg', serializeDataViews([data]));
      }
    }
  }
  const settings = ServerConnection.makeSettings({ WebSocket: ProxyWebSocket, wsUrl: 'BOGUS_PVSC' });
  // The clientId must be the extension's: it is the session of every message sent.
  const real = new KernelConnection({
    serverSettings: settings,
    clientId: options.clientId,
    handleComms: true,
    username: options.userName,
    model: options.model,
  });
  // The handshake: the socket "opens" at once, and the first kernel_info request is skipped.
  const originalRequestKernelInfo = real.requestKernelInfo.bind(real);
  real.requestKernelInfo = () => {
    real.requestKernelInfo = originalRequestKernelInfo;
    return Promise.resolve();
  };
  socket.onopen({ target: socket });
  real.requestKernelInfo = originalRequestKernelInfo;

  const handleMessage = (type, payload) => {
    switch (type) {
      case 'IPyWidgets_msg':
        if (socket.onmessage) socket.onmessage({ target: socket, data: payload.data, type: '' });
        post('IPyWidgets_msg_received', { id: payload.id });
        break;
      case 'IPyWidgets_binary_msg':
        if (socket.onmessage) {
          socket.onmessage({ target: socket, data: deserializeDataViews(payload.data)[0], type: '' });
        }
        post('IPyWidgets_msg_received', { id: payload.id });
        break;
      case 'IPyWidgets_mirror_execute':
        // A mirrored execute: the webview's connection gets the future, nothing is sent.
        try {
          socket.sendEnabled = false;
          real.sendShellMessage(payload.msg, false, payload.msg.content.silent);
        } finally {
          socket.sendEnabled = true;
        }
        post('IPyWidgets_msg_received', { id: payload.id });
        break;
      default:
        break;
    }
  };
  // ProxyKernel delegates everything to the real connection, except that registering a comm
  // target also tells the extension (so its own connection does not refuse the comm).
  const proxy = new Proxy(real, {
    get(target, prop) {
      if (prop === 'registerCommTarget') {
        return (name, callback) => {
          post('IPyWidgets_registerCommTarget', name);
          return target.registerCommTarget(name, callback);
        };
      }
      const value = Reflect.get(target, prop, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return { proxy, real, handleMessage };
}

export class Webview {
  constructor({ channel, logger = noop }) {
    this.channel = channel;
    this.logger = logger;
    this.pending = [];
    this.kernel = undefined;
    this.manager = undefined;
    this.scriptRequests = new Map();
    this.widgetsRegisteredInRequireJs = new Set();
    let resolveReady;
    this.ready = new Promise((resolve) => { resolveReady = resolve; });
    this._resolveReady = resolveReady;
    channel.onMessage((type, payload) => this.handleMessage(type, payload));
  }

  post(type, payload) {
    this.channel.post(type, payload);
  }

  async start() {
    await new Promise((resolve) => {
      const check = () => (window.vscIPyWidgets8 ? resolve() : setTimeout(check, 50));
      check();
    });
    // The kernel reported ipywidgets 8: the extension unloads 7 and loads 8.
    window.vscIPyWidgets8.load();
    this.post('IPyWidgets_Ready');
    return this.ready;
  }

  handleMessage(type, payload) {
    if (type === 'IPyWidgets_kernelOptions') {
      this.initializeKernelAndWidgetManager(payload);
    } else if (type === 'IPyWidgets_WidgetScriptSourceResponse') {
      this.registerScriptSource(payload);
    } else if (this.kernel) {
      this.kernel.handleMessage(type, payload);
    } else {
      this.pending.push([type, payload]);
    }
  }

  initializeKernelAndWidgetManager(options) {
    // manager.ts: the same options again (another IPyWidgets_Ready answered) change nothing.
    if (this.manager && JSON.stringify(options) === JSON.stringify(this.options)) return;
    if (this.manager) throw new Error('a new kernel for the same webview is not part of this stand-in');
    this.options = options;
    this.kernel = createProxyKernel(options, (type, payload) => this.post(type, payload));
    for (const [type, payload] of this.pending.splice(0)) this.kernel.handleMessage(type, payload);
    const WidgetManager = window.vscIPyWidgets.WidgetManager;
    const scriptLoader = {
      widgetsRegisteredInRequireJs: this.widgetsRegisteredInRequireJs,
      errorHandler: (className, moduleName, moduleVersion, error) =>
        console.error(`Failed to to Widget load class ${moduleName}${className}`, error),
      loadWidgetScript: (moduleName, moduleVersion) => this.loadWidgetScript(moduleName, moduleVersion),
      successHandler: noop,
    };
    this.container = document.createElement('div');
    this.manager = new WidgetManager(this.kernel.proxy, this.container, scriptLoader, this.logger);
    this._resolveReady(this.manager);
  }

  loadWidgetScript(moduleName, moduleVersion) {
    const requestId = `${moduleName}:${moduleVersion}:${Date.now()}`;
    return new Promise((resolve) => {
      this.scriptRequests.set(moduleName, { requestId, resolve });
      this.post('IPyWidgets_WidgetScriptSourceRequest', { moduleName, moduleVersion, requestId });
    });
  }

  registerScriptSource(source) {
    if (source.scriptUri) {
      // requirejsRegistry.ts: a path without the trailing .js.
      const uri = source.scriptUri.toLowerCase().endsWith('.js') ? source.scriptUri.slice(0, -3) : source.scriptUri;
      window.requirejs.config({ paths: { [source.moduleName]: uri }, map: { '*': { 'jupyter-js-widgets': '@jupyter-widgets/base' } } });
      this.widgetsRegisteredInRequireJs.add(source.moduleName);
    } else {
      console.error(`Source for IPyWidget ${source.moduleName} not found.`);
    }
    const request = this.scriptRequests.get(source.moduleName);
    if (request) {
      this.scriptRequests.delete(source.moduleName);
      request.resolve();
    }
  }

  // manager.ts renderWidget(): the model may still be on its way (the comm_open and the
  // display_data are processed in order on the webview's connection), so wait for it.
  async renderWidget(data, element) {
    if (!data || data.version_major !== 2) {
      console.warn('Widget data not available to render an ipywidget');
      return undefined;
    }
    let modelPromise = this.manager.get_model(data.model_id);
    while (!modelPromise) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      modelPromise = this.manager.get_model(data.model_id);
    }
    const model = await modelPromise;
    const view = await this.manager.create_view(model, { el: element });
    return this.manager.display_view(data, view, { node: element });
  }
}
