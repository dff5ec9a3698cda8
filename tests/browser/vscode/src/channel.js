// The postMessage boundary between VS Code's extension host and a notebook webview.
//
// Messages from the extension host reach the webview as JSON (which is why the Jupyter
// extension turns binary frames into arrays of byte values before posting them). Each end
// gets {post, onMessage}; every message is JSON-stringified on one side and parsed on the
// other, asynchronously, through a MessageChannel. The stringified sizes are counted so a
// test can report how many bytes the encoding put on the wire.

export function createChannel() {
  const { port1, port2 } = new MessageChannel();
  const stats = { toWebviewBytes: 0, toWebviewMessages: 0, toExtensionBytes: 0, toExtensionMessages: 0 };
  const end = (port, direction) => {
    const handlers = [];
    port.onmessage = (event) => {
      const message = JSON.parse(event.data);
      for (const handler of handlers) handler(message.type, message.payload);
    };
    return {
      post(type, payload) {
        const text = JSON.stringify({ type, payload });
        stats[`${direction}Bytes`] += text.length;
        stats[`${direction}Messages`] += 1;
        port.postMessage(text);
      },
      onMessage(handler) {
        handlers.push(handler);
      },
    };
  };
  return { extension: end(port1, 'toWebview'), webview: end(port2, 'toExtension'), stats };
}
