// Wires the stand-in's two halves into one page and exposes window.vscodeStandIn to the test.
//
// The page plays VS Code's notebook webview: require.js and jQuery are globals, the
// @vscode/jupyter-ipywidgets8 dist is loaded as an ES module whose activate() is called
// (harness.html), and outputs are rendered the way the Jupyter extension's ipywidget renderer
// does (renderer/index.ts + kernel/index.ts renderIPyWidget). The extension-host half talks
// to the real kernel; the two halves only meet through the JSON channel.

import { createChannel } from './channel.js';
import { ExtensionHost, WIDGET_MIMETYPE } from './extension.js';
import { Webview } from './webview.js';

const params = new URLSearchParams(window.location.search);
const baseUrl = new URL('../', window.location.href).href.replace(/static\/$/, '');
const channel = createChannel();
const logs = [];
const webview = new Webview({ channel: channel.webview, logger: (message) => logs.push(message) });
const extension = new ExtensionHost({
  baseUrl,
  token: params.get('token') || '',
  channel: channel.extension,
  protocolMode: params.get('protocol') === 'v1' ? 'v1' : 'legacy',
  scriptSources: { anywidget: `${baseUrl}static/vscode/anywidget/index.js` },
});

let cellCount = 0;

function renderOutput(outputs, kind, content) {
  if ((kind === 'display_data' || kind === 'execute_result') && content.data[WIDGET_MIMETYPE]) {
    // renderIPyWidget(): the renderer's container, a background div, the widget inside it.
    const container = document.createElement('div');
    container.className = 'output_container';
    container.dataset.vscOutput = 'widget';
    const ele = document.createElement('div');
    ele.className = 'cell-output-ipywidget-background';
    container.appendChild(ele);
    outputs.appendChild(container);
    webview.renderWidget(content.data[WIDGET_MIMETYPE], ele).catch((error) => {
      console.error(`Error: Failed to render widget ${error}`);
    });
    return;
  }
  const pre = document.createElement('pre');
  pre.dataset.vscOutput = kind;
  if (kind === 'stream') {
    pre.dataset.vscStream = content.name;
    pre.textContent = content.text;
  } else if (kind === 'error') {
    pre.textContent = `${content.ename}: ${content.evalue}\n${(content.traceback || []).join('\n')}`;
  } else {
    pre.textContent = content.data['text/plain'] || '';
  }
  outputs.appendChild(pre);
}

async function execute(code) {
  await ready;
  cellCount += 1;
  const cell = document.createElement('div');
  cell.className = 'cell';
  cell.dataset.vscCell = String(cellCount);
  const outputs = document.createElement('div');
  outputs.className = 'cell-outputs';
  cell.appendChild(outputs);
  document.getElementById('cells').appendChild(cell);
  const reply = await extension.execute(code, (kind, content) => renderOutput(outputs, kind, content));
  return { status: reply.status, executionCount: reply.execution_count };
}

const ready = Promise.all([webview.start(), extension.start()]).then(() => {
  document.body.dataset.vscReady = 'true';
});
ready.catch((error) => {
  console.error('stand-in failed to start', error);
  document.body.dataset.vscReady = 'failed';
  document.body.dataset.vscError = String(error && error.stack ? error.stack : error);
});

window.vscodeStandIn = {
  ready,
  execute,
  logs,
  stats: () => ({ channel: { ...channel.stats }, frames: { ...extension.frames }, protocol: extension.protocol }),
  kernelId: () => extension.kernel && extension.kernel.id,
};
