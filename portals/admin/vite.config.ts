import { portalConfig } from '../vite.portal.ts';

export default portalConfig('admin');
