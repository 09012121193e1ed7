// The recommendation module's entry: the service and the shapes it speaks.
export { RecsService } from './recs-service.js';
export type { RecsServiceOptions } from './recs-options.js';
export type {
  Interaction,
  InteractionKind,
  ProductFeatures,
  Recommendation,
  RecsAlgorithm,
  RecsCandidateFilter,
  RecsContext,
} from '../../workers/recs/types.js';
