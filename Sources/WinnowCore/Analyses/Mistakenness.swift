import Foundation

/// fiftyone.brain `compute_mistakenness`: how likely a ground-truth label is wrong, given a
/// model's predictions.
///
/// Classification: `s = +1` when the predicted label differs from the ground truth (sets
/// compared for multi-label), `−1` when equal; with logits `m = (s·exp(−H) + 1) / 2` (H the
/// entropy of `softmax(logits)`), otherwise `m = (s·confidence + 1) / 2`. A missing prediction
/// gives 1.0; a missing ground truth with a prediction counts as correct (s = −1).
///
/// Detections: ground truth and predictions of one image are matched greedily at IoU ≥ 0.5
/// (predictions by decreasing confidence, each to the unmatched ground truth object with the
/// highest IoU, same class first — fiftyone runs `evaluate_detections` with `classwise=False`
/// here so that a wrong class can be found). Matched objects get the class score above and a location score
/// `i = (1 − IoU)/0.5, c = exp(−H) or confidence, loc = (c·(2i − 1) + 1)/2` (`<field>_loc`).
/// Unmatched predictions with confidence > 0.95 are `possible_missing`; unmatched ground truth
/// objects are `possible_spurious`. Per image: the max object class mistakenness (−1 if none), and
/// the counts of missing and spurious objects.
public enum Mistakenness {
    /// Classification mistakenness for one sample.
    public static func classification(groundTruth: Set<String>?, predicted: Set<String>?, confidence: Double?,
                                      logits: [Double]?, useLogits: Bool) -> Double {
        guard let predicted else { return 1 }
        let s: Double = (groundTruth == nil || groundTruth == predicted) ? -1 : 1
        let c: Double
        if useLogits, let logits, !logits.isEmpty { c = exp(-Hardness.entropy(logits: logits)) } else { c = confidence ?? 1 }
        return (s * c + 1) / 2
    }

    /// A labelled box.
    public struct Object: Sendable, Equatable {
        public var label: String
        public var box: BoundingBox
        public var confidence: Double?
        public var logits: [Double]?

        public init(label: String, box: BoundingBox, confidence: Double? = nil, logits: [Double]? = nil) {
            self.label = label
            self.box = box
            self.confidence = confidence
            self.logits = logits
        }
    }

    public struct ObjectScore: Sendable, Equatable {
        /// Index into the ground truth objects.
        public var groundTruth: Int
        /// Matched prediction, nil for a possible spurious object.
        public var prediction: Int?
        public var iou: Double
        /// Class mistakenness (nil when unmatched).
        public var mistakenness: Double?
        /// Location mistakenness `_loc` (nil when unmatched).
        public var location: Double?
    }

    public struct DetectionResult: Sendable, Equatable {
        public var objects: [ObjectScore]
        /// Predictions with no ground truth match and confidence > 0.95.
        public var possibleMissing: [Int]
        /// Ground truth objects matched by no prediction.
        public var possibleSpurious: [Int]
        /// Max object class mistakenness, −1 when there are none.
        public var sampleMistakenness: Double
    }

    /// Detection mistakenness for one image.
    public static func detections(groundTruth: [Object], predictions: [Object], iouThreshold: Double = 0.5,
                                  missingConfidence: Double = 0.95, useLogits: Bool = false) -> DetectionResult {
        let order = predictions.indices.sorted { (predictions[$0].confidence ?? 1) > (predictions[$1].confidence ?? 1) }
        var gtMatch = [Int?](repeating: nil, count: groundTruth.count)
        var gtIoU = [Double](repeating: 0, count: groundTruth.count)
        var predictionMatched = [Bool](repeating: false, count: predictions.count)
        for p in order {
            var best: (index: Int, iou: Double, sameClass: Bool)?
            for (g, gt) in groundTruth.enumerated() where gtMatch[g] == nil {
                let iou = gt.box.iou(predictions[p].box)
                guard iou >= iouThreshold else { continue }
                let same = gt.label == predictions[p].label
                if let b = best, (b.sameClass && !same) || (b.sameClass == same && b.iou >= iou) { continue }
                best = (g, iou, same)
            }
            if let best {
                gtMatch[best.index] = p
                gtIoU[best.index] = best.iou
                predictionMatched[p] = true
            }
        }
        var objects: [ObjectScore] = []
        var sample = -1.0
        for (g, gt) in groundTruth.enumerated() {
            guard let p = gtMatch[g] else {
                objects.append(ObjectScore(groundTruth: g, prediction: nil, iou: 0, mistakenness: nil, location: nil))
                continue
            }
            let prediction = predictions[p]
            let m = classification(groundTruth: [gt.label], predicted: [prediction.label], confidence: prediction.confidence,
                                   logits: prediction.logits, useLogits: useLogits)
            let c: Double
            if useLogits, let logits = prediction.logits, !logits.isEmpty { c = exp(-Hardness.entropy(logits: logits)) } else {
                c = prediction.confidence ?? 1
            }
            let i = (1 - gtIoU[g]) / 0.5
            let location = (c * (2 * i - 1) + 1) / 2
            objects.append(ObjectScore(groundTruth: g, prediction: p, iou: gtIoU[g], mistakenness: m, location: location))
            sample = max(sample, m)
        }
        let missing = predictions.indices.filter { !predictionMatched[$0] && (predictions[$0].confidence ?? 0) > missingConfidence }
        let spurious = groundTruth.indices.filter { gtMatch[$0] == nil }
        return DetectionResult(objects: objects, possibleMissing: missing, possibleSpurious: spurious, sampleMistakenness: sample)
    }
}
