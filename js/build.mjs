// Bundle js/src into the Python package: foxkling_widgets/static/widget.{js,css} (ESM, minified).
import * as esbuild from "esbuild";

const options = {
  entryPoints: ["src/widget.js", "src/widget.css"],
  bundle: true,
  format: "esm",
  minify: !process.argv.includes("--watch"),
  target: ["es2020"],
  outdir: "../foxkling_widgets/static",
  logLevel: "info",
};

if (process.argv.includes("--watch")) {
  const context = await esbuild.context(options);
  await context.watch();
} else {
  await esbuild.build(options);
}
