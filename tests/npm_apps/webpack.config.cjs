// webpack 5 with no WebDNN-specific configuration: its `new URL("./x.wasm", import.meta.url)` assets are emitted
// by webpack's defaults.
const path = require("node:path");

module.exports = {
  mode: "production",
  entry: "./src/main.js",
  output: { path: path.resolve(process.cwd(), "dist"), filename: "main.js", publicPath: "auto" },
  performance: { hints: false },
};
