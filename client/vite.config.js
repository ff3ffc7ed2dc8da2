// The demo page (demo/index.html) and the admin stats page (demo/stats.html), built with Vite
// from the package's own components:  npm run build -- --outDir <dir>   (default dist/)
// nginx serves the output as plain files (base './': any location works, e.g. /demo/).
// `npm run dev` serves them with hot reload; point them at a running scripts/demo with
// ?url=ws://127.0.0.1:<port>/ws/portfolio.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const here = (p) => fileURLToPath(new URL(p, import.meta.url));

export default defineConfig({
  root: here('./demo'),
  base: './',
  // JSX without @vitejs/plugin-react (no fast refresh needed for these pages)
  oxc: { jsx: { runtime: 'automatic', importSource: 'react' } },
  resolve: {
    // the demo imports the package by its name, as an application would
    alias: [
      { find: /^@portfolio-stream\/client\/react\/styles\.css$/, replacement: here('./react/styles.css') },
      { find: /^@portfolio-stream\/client\/react$/, replacement: here('./react/index.js') },
      { find: /^@portfolio-stream\/client\/store$/, replacement: here('./store.js') },
      { find: /^@portfolio-stream\/client$/, replacement: here('./portfolio-stream.js') },
    ],
  },
  build: {
    outDir: here('./dist'),
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: true,
    reportCompressedSize: false,
    rollupOptions: { input: { demo: here('./demo/index.html'), stats: here('./demo/stats.html') } },
  },
  logLevel: 'warn',
});
