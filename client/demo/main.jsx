// The demo page: one PortfolioStore handed to the provider; everything on screen is the
// package's components (ConnectionStatus, AnimatedPnL, LiveBadge, StalenessWarning, FillToasts,
// StreamNotices) and hooks, as an application would use them.
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { PortfolioStore, PortfolioStreamProvider } from '@portfolio-stream/client/react';
import '@portfolio-stream/client/react/styles.css';
import './demo.css';
import { App } from './App.jsx';
import { config, loadSnapshot, checkSession } from './config.js';

const store = new PortfolioStore({ url: config.url, loadSnapshot, checkSession });

// For the browser tests and for poking around in the devtools console.
const history = [];   // [state, info, time]
store.stream.on('state', (state, info) => history.push([state, info, Date.now()]));
window.demo = { store, stream: store.stream, history };

createRoot(document.getElementById('root')).render(
  <StrictMode>
    <PortfolioStreamProvider store={store}>
      <App loginUrl={config.loginUrl} />
    </PortfolioStreamProvider>
  </StrictMode>,
);
