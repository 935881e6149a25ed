import Foundation
import Testing
@testable import WinnowCore

@Suite struct LabelScoreTests {
    @Test func hardnessIsTheEntropyOfTheSoftmax() {
        // softmax([1, 2, 3]) = [0.0900306, 0.2447285, 0.6652410]; −Σ p ln p = 0.0900306·2.4076059 + 0.2447285·1.4076059 + 0.6652410·0.4076059 = 0.8323956.
        #expect(abs(Hardness.entropy(logits: [1, 2, 3]) - 0.8323956) < 1e-6)
        #expect(abs(Hardness.entropy(logits: [0, 0, 0, 0]) - log(4)) < 1e-12)
        #expect(Hardness.entropy(logits: [1000, 0]) < 1e-12)   // stable with large logits
        #expect(Hardness.entropy(logits: []) == 0)
    }

    @Test func classificationMistakennessAsFiftyone() {
        // (s·c + 1)/2 with s = +1 wrong, −1 right.
        #expect(abs(Mistakenness.classification(groundTruth: ["cat"], predicted: ["dog"], confidence: 0.8, logits: nil, useLogits: false) - 0.9) < 1e-12)
        #expect(abs(Mistakenness.classification(groundTruth: ["cat"], predicted: ["cat"], confidence: 0.8, logits: nil, useLogits: false) - 0.1) < 1e-12)
        // Logits [0, 0]: H = ln 2, exp(−H) = 0.5 → (0.5 + 1)/2.
        #expect(abs(Mistakenness.classification(groundTruth: ["cat"], predicted: ["dog"], confidence: 0.99, logits: [0, 0], useLogits: true) - 0.75) < 1e-12)
        #expect(Mistakenness.classification(groundTruth: ["cat"], predicted: nil, confidence: nil, logits: nil, useLogits: false) == 1)
        #expect(abs(Mistakenness.classification(groundTruth: nil, predicted: ["dog"], confidence: 0.6, logits: nil, useLogits: false) - 0.2) < 1e-12)
        // Multi-label: sets compared.
        #expect(abs(Mistakenness.classification(groundTruth: ["a", "b"], predicted: ["b", "a"], confidence: 1, logits: nil, useLogits: false)) < 1e-12)
    }

    @Test func detectionMistakennessMatchesAtIoUHalf() {
        let gt = [Mistakenness.Object(label: "cat", box: BoundingBox(x: 0, y: 0, width: 10, height: 10)),
                  Mistakenness.Object(label: "dog", box: BoundingBox(x: 20, y: 20, width: 10, height: 10))]
        let predictions = [
            Mistakenness.Object(label: "dog", box: BoundingBox(x: 0, y: 0, width: 10, height: 8), confidence: 0.9),  // IoU 0.8 with cat
            Mistakenness.Object(label: "cat", box: BoundingBox(x: 50, y: 50, width: 5, height: 5), confidence: 0.97), // unmatched, > 0.95
            Mistakenness.Object(label: "cat", box: BoundingBox(x: 50, y: 0, width: 5, height: 5), confidence: 0.5),   // unmatched, ≤ 0.95
            Mistakenness.Object(label: "dog", box: BoundingBox(x: 24, y: 20, width: 10, height: 10), confidence: 0.99), // IoU 60/140 < 0.5
        ]
        let result = Mistakenness.detections(groundTruth: gt, predictions: predictions)
        let cat = result.objects[0]
        #expect(cat.prediction == 0 && abs(cat.iou - 0.8) < 1e-12)
        #expect(abs((cat.mistakenness ?? 0) - 0.95) < 1e-12)           // (0.9 + 1)/2
        #expect(abs((cat.location ?? 0) - 0.41) < 1e-12)               // i = 0.4, (0.9·(2i − 1) + 1)/2
        #expect(result.objects[1].prediction == nil)
        #expect(result.possibleSpurious == [1])
        #expect(result.possibleMissing == [1, 3])
        #expect(abs(result.sampleMistakenness - 0.95) < 1e-12)
        #expect(Mistakenness.detections(groundTruth: [], predictions: []).sampleMistakenness == -1)
        // A same-class prediction is preferred when two ground truth objects overlap it enough.
        let twins = [Mistakenness.Object(label: "a", box: BoundingBox(x: 0, y: 0, width: 10, height: 10)),
                     Mistakenness.Object(label: "b", box: BoundingBox(x: 1, y: 0, width: 10, height: 10))]
        let one = Mistakenness.detections(groundTruth: twins, predictions: [
            Mistakenness.Object(label: "b", box: BoundingBox(x: 0, y: 0, width: 10, height: 10), confidence: 0.9)])
        #expect(one.objects[1].prediction == 0 && one.objects[0].prediction == nil)
    }

    @Test func confidentLearningThresholdsByHand() {
        // t0 = (0.9 + 0.3)/2 = 0.6, t1 = (0.8 + 0.4)/2 = 0.6.
        let p: [Float] = [0.9, 0.1, 0.3, 0.7, 0.2, 0.8, 0.6, 0.4]
        let r = WrongLabels.confidentLearning(probabilities: p, labels: [0, 0, 1, 1], classCount: 2)
        #expect(r.thresholds.map { abs($0 - 0.6) < 1e-6 } == [true, true])
        #expect(r.suggested == [0, 1, 1, 0])
        #expect(r.likelyWrong == [false, true, false, true])
        #expect(zip(r.scores, [0.1, 0.7, 0.2, 0.6] as [Float]).allSatisfy { abs($0 - $1) < 1e-6 })
    }

    @Test func leaveOneOutRidgeEqualsRefittingWithoutTheSample() {
        var generator = SplitMix64(seed: 7)
        let n = 12, d = 3, classes = 3
        let values = (0..<(n * d)).map { _ in Float.random(in: -1...1, using: &generator) }
        let labels = (0..<n).map { $0 % classes }
        let vectors = FeatureMatrix(rows: n, dimension: d, values: values)
        let lambda = 0.5
        let fast = WrongLabels.leaveOneOutRidge(vectors, labels: labels, classCount: classes, lambda: lambda)
        let blocked = WrongLabels.leaveOneOutRidge(vectors, labels: labels, classCount: classes, lambda: lambda, rowBlock: 5)
        #expect(zip(blocked, fast).allSatisfy { abs($0 - $1) < 1e-5 } && blocked.count == fast.count)
        // The same features as the fast path: signed square root, centred over all rows,
        // normalised, bias appended.
        let root = values.map { Double($0 < 0 ? -(-$0).squareRoot() : $0.squareRoot()) }
        var mean = [Double](repeating: 0, count: d)
        for i in 0..<n { for j in 0..<d { mean[j] += root[i * d + j] / Double(n) } }
        let x: [[Double]] = (0..<n).map { i in
            let c = (0..<d).map { root[i * d + $0] - mean[$0] }
            let norm = c.reduce(0) { $0 + $1 * $1 }.squareRoot()
            return c.map { $0 / norm } + [1]
        }
        for held in 0..<n {
            // Refit on the other rows by Gauss–Jordan on (XᵀX + λI) w = Xᵀy, per class.
            let D = d + 1
            var a = [[Double]](repeating: [Double](repeating: 0, count: D + classes), count: D)
            for r in 0..<D { a[r][r] = lambda }
            for i in 0..<n where i != held {
                for r in 0..<D {
                    for c in 0..<D { a[r][c] += x[i][r] * x[i][c] }
                    a[r][D + labels[i]] += x[i][r]
                }
            }
            for col in 0..<D {
                let pivot = a[col][col]
                for c in 0..<(D + classes) { a[col][c] /= pivot }
                for r in 0..<D where r != col {
                    let f = a[r][col]
                    for c in 0..<(D + classes) { a[r][c] -= f * a[col][c] }
                }
            }
            for k in 0..<classes {
                let refit = (0..<D).reduce(0.0) { $0 + x[held][$1] * a[$1][D + k] }
                #expect(abs(Double(fast[held * classes + k]) - refit) < 1e-4, "row \(held) class \(k)")
            }
        }
    }

    @Test func symmetricInverseInverts() {
        let a: [Double] = [4, 2, 0.6, 2, 3, 0.4, 0.6, 0.4, 2]
        let inverse = WrongLabels.symmetricInverse(a, dimension: 3)
        for r in 0..<3 {
            for c in 0..<3 {
                let v = (0..<3).reduce(0.0) { $0 + a[r * 3 + $1] * inverse[$1 * 3 + c] }
                #expect(abs(v - (r == c ? 1 : 0)) < 1e-12)
            }
        }
    }

    @Test func neighbourLabelDisagreementByHand() {
        // Sample 0 (label 0): neighbours 1 (sim 0.9, label 0), 2 (sim 0.6, label 1), 3 (sim −0.2, label 1).
        let neighbors: [[Neighbor]] = [
            [Neighbor(index: 1, distance: 0.1), Neighbor(index: 2, distance: 0.4), Neighbor(index: 3, distance: 1.2)],
            [Neighbor(index: 2, distance: 0.5), Neighbor(index: 3, distance: 0.5)],
            [Neighbor(index: 3, distance: 0.2)],
            [],
        ]
        let r = LabelDisagreement.compute(graph: KNNGraph(lists: neighbors, metric: .cosine), labels: [0, 0, 1, 1], k: 10)
        #expect(abs(r.scores[0] - 0.6 / 1.5) < 1e-6)
        #expect(r.majority[0] == 0)
        #expect(r.scores[1] == 1 && r.majority[1] == 1)
        #expect(r.scores[2] == 0 && r.scores[3] == 0 && r.majority[3] == 1)
        #expect(LabelDisagreement.compute(graph: KNNGraph(lists: neighbors, metric: .cosine), labels: [0, 0, 1, 1], k: 1).scores[0] == 0)
    }

    @Test func clusterPurityByHand() {
        let components = [ConnectedComponents.Component(id: 0, members: [0, 1, 2, 3], meanSimilarity: 0.9, minimumSimilarity: 0.9, maximumSimilarity: 0.9),
                          ConnectedComponents.Component(id: 4, members: [4, 5], meanSimilarity: 0.9, minimumSimilarity: 0.9, maximumSimilarity: 0.9),
                          ConnectedComponents.Component(id: 6, members: [6, 7], meanSimilarity: 0.9, minimumSimilarity: 0.9, maximumSimilarity: 0.9)]
        let labels: [String?] = ["cat", "cat", "dog", nil, "bird", "bird", "cow", nil]
        let clusters = LabelPurity.compute(components: components, labels: labels)
        #expect(clusters.count == 2)   // the third has one labelled member
        #expect(clusters[0].id == 0 && clusters[0].majority == "cat" && abs(clusters[0].purity - 2.0 / 3.0) < 1e-12)
        #expect(clusters[0].isContradicting && clusters[0].counts.map(\.label) == ["cat", "dog"])
        #expect(clusters[1].purity == 1 && !clusters[1].isContradicting)
    }

    @Test func aurocAndPrecisionAtK() {
        // Positives at scores 0.9 and 0.4; negatives 0.8, 0.3, 0.1 → pairs won: 3 + 2 of 6.
        let scores = [0.9, 0.8, 0.4, 0.3, 0.1], positives = [true, false, true, false, false]
        #expect(abs((LabelNoiseMetrics.auroc(scores: scores, positives: positives) ?? 0) - 5.0 / 6.0) < 1e-12)
        #expect(LabelNoiseMetrics.precisionAtK(scores: scores, positives: positives) == 0.5)
        #expect(LabelNoiseMetrics.auroc(scores: [1, 1], positives: [true, false]) == 0.5)   // ties count half
        #expect(LabelNoiseMetrics.auroc(scores: [1], positives: [true]) == nil)
    }
}
