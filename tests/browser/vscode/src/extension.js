// The extension-host half of the stand-in: what vscode-jupyter does outside the webview.
//
// It owns the one real kernel connection (@jupyterlab/services over a real WebSocket to the
// Jupyter server the test started), with send/receive hooks on its socket like the
// extension's KernelSocketWrapper, and relays frames to the webview like its
// IPyWidgetMessageDispatcher:
//  - every frame the kernel sends is posted to the webview before the extension's own
//    connection handles it: a text frame as IPyWidgets_msg, a binary frame as
//    IPyWidgets_binary_msg with serializeDataViews([frame]) (a JSON array of byte values);
//  - an execute_request the extension sends is mirrored (IPyWidgets_mirror_execute) so the
//    webview's kernel has the same futures;
//  - messages the webview's widget manager sends come back parsed and are re-sent through
//    the extension's connection (DataView buffers replaced by their ArrayBuffer);
//  - widget scripts are answered from the environment's nbextensions folder (the extension's
//    local script source provider), here served by the Jupyter server's static handler.
// The socket speaks the legacy wire protocol ('' subprotocol): that is what the extension's
// raw-kernel socket (the default for a local Python kernel) reports, and it is the protocol
// in which only messages with buffers travel as binary frames.

import { KernelManager, ServerConnection } from '@jupyterlab/services';
import { deserialize } from '@jupyterlab/services/lib/kernel/serialize';
import { serializeDataViews, deserializeDataViews } from './serializers.js';

const WIDGET_MIMETYPE = 'application/vnd.jupyter.widget-view+json';
let uuidCounter = 0;
const uuid = () => `${Date.now().toString(36)}-${(uuidCounter += 1)}`;

// A WebSocket-like object with receive and send hooks chained like KernelSocketWrapper:
// hooks finish before the connection sees a message, and messages stay in order.
function hookedWebSocketClass(registry, protocolMode) {
  return class HookedWebSocket {
    constructor(url, protocols) {
      // Legacy mode opens without subprotocols, so the server answers in the '' protocol.
      this._ws = protocolMode === 'v1' ? new WebSocket(url, protocols) : new WebSocket(url);
      this._ws.binaryType = 'arraybuffer';
      this.receiveHooks = [];
      this.sendHooks = [];
      this.msgChain = Promise.resolve();
      this.sendChain = Promise.resolve();
      this.onopen = null;
      this.onclose = null;
      this.onerror = null;
      this.onmessage = null;
      this._ws.onopen = (event) => this.onopen && this.onopen(event);
      this._ws.onclose = (event) => this.onclose && this.onclose(event);
      this._ws.onerror = (event) => this.onerror && this.onerror(event);
      this._ws.onmessage = (event) => {
        this.msgChain = this.msgChain
          .then(() => Promise.all(this.receiveHooks.map((hook) => hook(event.data))))
          .then(() => this.onmessage && this.onmessage(event))
          .catch((error) => console.error('Exception while handling messages', error));
      };
      registry.push(this);
    }
    get protocol() { return this._ws.protocol; }
    get readyState() { return this._ws.readyState; }
    get binaryType() { return this._ws.binaryType; }
    set binaryType(value) { this._ws.binaryType = value; }
    send(data) {
      this.sendChain = this.sendChain
        .then(() => Promise.all(this.sendHooks.map((hook) => hook(data))))
        .then(() => this._ws.send(data));
    }
    close(code, reason) { this._ws.close(code, reason); }
  };
}

export class ExtensionHost {
  constructor({ baseUrl, token, channel, protocolMode = 'legacy', scriptSources = {} }) {
    this.channel = channel;
    this.protocolMode = protocolMode;
    this.scriptSources = scriptSources;
    this.sockets = [];
    this.settings = ServerConnection.makeSettings({
      baseUrl,
      wsUrl: baseUrl.replace(/^http/, 'ws'),
      token,
      appendToken: true,
      WebSocket: hookedWebSocketClass(this.sockets, protocolMode),
    });
    this.kernel = undefined;
    this.started = false;
    this.webviewReady = false;
    this.frames = { text: 0, binary: 0, binaryBytes: 0 };
    channel.onMessage((type, payload) => this.receiveMessage(type, payload));
  }

  async start() {
    const manager = new KernelManager({ serverSettings: this.settings });
    await manager.ready;
    this.kernel = await manager.startNew({ name: 'python3' }, { handleComms: true });
    // The widget comm target is registered on the extension's connection at startup (a no-op
    // there: the webview's widget manager owns the widgets), so this connection does not
    // answer the kernel's comm_open with a comm_close.
    this.kernel.registerCommTarget('jupyter.widget', () => undefined);
    await this.kernel.info;
    const socket = this.sockets[this.sockets.length - 1];
    this.protocol = socket.protocol;
    socket.receiveHooks.push((data) => this.onKernelSocketMessage(data));
    socket.sendHooks.push((data) => this.mirrorSend(data));
    this.started = true;
    if (this.webviewReady) this.sendKernelOptions();
    return this.kernel;
  }

  sendKernelOptions() {
    const kernel = this.kernel;
    this.channel.post('IPyWidgets_kernelOptions', {
      id: kernel.id,
      clientId: kernel.clientId,
      userName: kernel.username,
      model: kernel.model,
      protocol: this.protocol,
    });
  }

  onKernelSocketMessage(data) {
    const id = uuid();
    if (typeof data === 'string') {
      this.frames.text += 1;
      this.channel.post('IPyWidgets_msg', { id, data });
    } else {
      this.frames.binary += 1;
      this.frames.binaryBytes += data.byteLength;
      this.channel.post('IPyWidgets_binary_msg', { id, data: serializeDataViews([data]) });
    }
    return Promise.resolve();
  }

  mirrorSend(data) {
    const msg = typeof data === 'string' ? JSON.parse(data) : deserialize(data, this.protocol);
    if (msg.channel === 'shell' && msg.header.msg_type === 'execute_request') {
      this.channel.post('IPyWidgets_mirror_execute', { id: msg.header.msg_id, msg });
    }
    return Promise.resolve();
  }

  receiveMessage(type, payload) {
    switch (type) {
      case 'IPyWidgets_Ready':
        this.webviewReady = true;
        // Kernel options go out once the connection is up and its wire protocol known.
        if (this.started) this.sendKernelOptions();
        break;
      case 'IPyWidgets_msg':
        this.sendRawPayloadToKernelSocket(payload);
        break;
      case 'IPyWidgets_binary_msg':
        this.sendRawPayloadToKernelSocket(deserializeDataViews(payload)[0]);
        break;
      case 'IPyWidgets_registerCommTarget':
        if (payload !== 'jupyter.widget') this.kernel.registerCommTarget(payload, () => undefined);
        break;
      case 'IPyWidgets_WidgetScriptSourceRequest': {
        const scriptUri = this.scriptSources[payload.moduleName];
        this.channel.post('IPyWidgets_WidgetScriptSourceResponse', {
          moduleName: payload.moduleName,
          requestId: payload.requestId,
          source: 'local',
          scriptUri,
        });
        break;
      }
      default:
        // IPyWidgets_msg_received, IPyWidgets_iopub_msg_handled, log messages: acknowledgements
        // the extension uses for its own flow control, nothing to relay.
        break;
    }
  }

  sendRawPayloadToKernelSocket(message) {
    const msg = typeof message === 'string' ? JSON.parse(message) : deserialize(message, this.protocol);
    if (msg.buffers && msg.buffers.length) {
      msg.buffers = msg.buffers.map((buffer) => (buffer instanceof DataView ? buffer.buffer : buffer));
    }
    if (msg.channel === 'control') {
      this.kernel.sendControlMessage(msg);
    } else {
      this.kernel.sendShellMessage(msg);
    }
  }

  // Runs a cell the way the notebook controller does: through the extension's connection.
  // Outputs go to onOutput; widget views are rendered by the webview's renderer.
  execute(code, onOutput) {
    const future = this.kernel.requestExecute({ code, silent: false, store_history: true });
    future.onIOPub = (msg) => {
      const kind = msg.header.msg_type;
      if (kind === 'execute_result' || kind === 'display_data' || kind === 'stream' || kind === 'error') {
        onOutput(kind, msg.content);
      }
    };
    return future.done.then((reply) => reply.content);
  }
}

export { WIDGET_MIMETYPE };
