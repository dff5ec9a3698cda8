// The VS Code Jupyter extension's own buffer encoding for messages that cross the
// extension-host <-> webview boundary (vscode-jupyter, src/platform/common/utils/serializers.ts,
// MIT licence), ported as is: a binary kernel frame travels as a plain JSON array of byte
// values, and is turned back into an ArrayBuffer on the other side.

export function serializeDataViews(buffers) {
  if (!buffers || !Array.isArray(buffers) || buffers.length === 0) {
    return undefined;
  }
  const out = [];
  for (let i = 0; i < buffers.length; i += 1) {
    const item = buffers[i];
    if ('buffer' in item && 'byteOffset' in item) {
      // An ArrayBufferView. The extension uses Array.apply here (it overflows the stack for
      // large views); it only takes this branch for views, never for a websocket frame.
      out.push({ ...item, byteLength: item.byteLength, byteOffset: item.byteOffset, buffer: [...new Uint8Array(item.buffer)] });
    } else {
      // A whole ArrayBuffer: every websocket frame takes this branch.
      out.push([...new Uint8Array(item)]);
    }
  }
  return out;
}

export function deserializeDataViews(buffers) {
  if (!Array.isArray(buffers) || buffers.length === 0) {
    return buffers;
  }
  const out = [];
  for (let i = 0; i < buffers.length; i += 1) {
    const item = buffers[i];
    if ('buffer' in item && 'byteOffset' in item) {
      const buffer = new Uint8Array(item.buffer).buffer;
      out.push(new DataView(buffer, item.byteOffset, item.byteLength));
    } else {
      out.push(new Uint8Array(item).buffer);
    }
  }
  return out;
}
