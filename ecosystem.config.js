// pm2 process file: `pm2 start ecosystem.config.js --env production`.
// Fork mode on purpose: log-server forks its own workers with node:cluster (--multithreaded); in pm2's
// cluster mode it would itself be a cluster worker and refuses to start.
module.exports = {
  apps: [
    {
      name: 'log-server',
      script: 'dist/cli.js',
      args: '--multithreaded',
      exec_mode: 'fork',
      instances: 1,
      // The server sends 'ready' once it listens; pm2 shows "online" only then.
      wait_ready: true,
      listen_timeout: 15000,
      // pm2 stop sends SIGINT to every process of the tree; the server then drains open connections for up to
      // LOG_SERVER_DRAIN_TIMEOUT (10 s) and fsyncs. pm2 must not SIGKILL it before that.
      kill_timeout: 15000,
      exp_backoff_restart_delay: 100,
      max_memory_restart: '1G',
      merge_logs: true,
      time: true,
      env: {
        LOG_SERVER_HOST: '127.0.0.1',
        LOG_SERVER_PORT: '9020',
        LOG_SERVER_TARGET: 'logs.txt',
      },
      env_production: {
        NODE_ENV: 'production',
        LOG_SERVER_HOST: '127.0.0.1',
        LOG_SERVER_PORT: '9020',
        LOG_SERVER_TARGET: '/var/log/log-server/logs.txt',
      },
    },
  ],
};
