import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

/** The console is served by the Mainstay HTTP server at /console/ (src/http/routes/console-route.ts). */
export default defineConfig({
  root: import.meta.dirname,
  base: '/console/',
  plugins: [react()],
  build: { outDir: 'dist', emptyOutDir: true, reportCompressedSize: false },
  server: { proxy: { '/v1': 'http://127.0.0.1:8080', '/oauth': 'http://127.0.0.1:8080' } },
});
