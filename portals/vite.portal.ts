// One Vite configuration for the three portals: each is served by the control plane under its WSO2 path
// (`/publisher/`, ...) from `portals/dist/<portal>/`, with content-hashed assets under `assets/`.
import { defineConfig, type UserConfig } from 'vite';
import react from '@vitejs/plugin-react';
import { fileURLToPath } from 'node:url';

export function portalConfig(portal: 'publisher' | 'devportal' | 'admin'): UserConfig {
  const root = fileURLToPath(new URL(`./${portal}`, import.meta.url));
  return defineConfig({
    root,
    base: `/${portal}/`,
    plugins: [react()],
    build: {
      // crates/apim-portals' build script builds into its OUT_DIR; `npm run build` alone into portals/dist.
      outDir: process.env.APIM_PORTALS_OUT
        ? `${process.env.APIM_PORTALS_OUT}/${portal}`
        : fileURLToPath(new URL(`./dist/${portal}`, import.meta.url)),
      emptyOutDir: true,
      target: 'es2022',
      sourcemap: false,
      chunkSizeWarningLimit: 1024,
    },
  });
}
