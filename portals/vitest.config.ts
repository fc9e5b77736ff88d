import { defineConfig } from 'vitest/config';
import react from '@vitejs/plugin-react';

export default defineConfig({
  plugins: [react()],
  test: {
    environment: 'happy-dom',
    include: ['shared/src/**/*.test.{ts,tsx}', '*/src/**/*.test.{ts,tsx}'],
  },
});
