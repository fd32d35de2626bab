import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// The web app is a static bundle in dist/, which `qwglm serve` serves at `/`. During development
// (`npm run dev`), API calls go to a running `qwglm serve` on port 8080.
export default defineConfig({
  plugins: [react()],
  base: './',
  build: { outDir: 'dist', assetsDir: 'assets', sourcemap: false, chunkSizeWarningLimit: 600 },
  server: {
    proxy: {
      '/v1': 'http://127.0.0.1:8080',
      '/api': 'http://127.0.0.1:8080',
      '/health': 'http://127.0.0.1:8080',
    },
  },
});
