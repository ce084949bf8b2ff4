import type { ModelConfig } from '../config.js';
import { ContainerModel } from './container.js';
import { EchoModel, FailModel, SleepModel } from './echo.js';
import type { Model } from './model.js';

export type { Model, ModelInput, ModelOutcome, NotificationDirective } from './model.js';

export function createModel(config: ModelConfig): Model {
  switch (config.type) {
    case 'echo':
      return new EchoModel();
    case 'sleep':
      return new SleepModel(config.ms);
    case 'fail':
      return new FailModel(config.reason);
    case 'container':
      return new ContainerModel(config.url, config.pingTimeoutMs);
  }
}
