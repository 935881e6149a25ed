import ArgumentParser
import WinnowCore
import WinnowCommandSupport

/// The margins and model files of `--bounding-box face|ocr` (fastdup `augmentation_horiz`,
/// `augmentation_vert`, `augmentation_additive_margin`).
struct DetectorArguments: ParsableArguments {
    @Option(parsing: .unconditional, help: "face/ocr crops: widen each region by this fraction of its width, 0–1 (fastdup augmentation_horiz; default 0.2).")
    var augmentationHoriz: Double?

    @Option(parsing: .unconditional, help: "face/ocr crops: heighten each region by this fraction of its height, 0–1 (fastdup augmentation_vert; default 0.2).")
    var augmentationVert: Double?

    @Option(parsing: .unconditional, help: "face/ocr crops: add this many pixels on every side instead (fastdup augmentation_additive_margin).")
    var augmentationAdditiveMargin: Int?

    @Option(help: ArgumentHelp("The OpenCV cascade faces are found with.", valueName: "xml"))
    var faceCascade = DetectorOptions.defaultFaceCascade

    @Option(help: ArgumentHelp("The folder holding Tesseract's eng.traineddata.", valueName: "folder"))
    var tessdata = DetectorOptions.defaultTessdata

    func validate() throws {
        try OptionRange.check("--augmentation-horiz", augmentationHoriz, in: 0...CropMargins.maximumFraction)
        try OptionRange.check("--augmentation-vert", augmentationVert, in: 0...CropMargins.maximumFraction)
        try OptionRange.check("--augmentation-additive-margin", augmentationAdditiveMargin, in: 0...CropMargins.maximumPixels)
        if augmentationAdditiveMargin != nil && (augmentationHoriz != nil || augmentationVert != nil) {
            throw ValidationError("--augmentation-additive-margin does not go with --augmentation-horiz/--augmentation-vert: the margin is either additive or multiplicative")
        }
    }

    /// Whether any margin was given (they need `--bounding-box face|ocr`).
    var givesMargins: Bool { augmentationHoriz != nil || augmentationVert != nil || augmentationAdditiveMargin != nil }

    /// The detector options for `kind`: fastdup's 20 % margins unless others are given.
    func options(_ kind: DetectorKind) -> DetectorOptions {
        var margins = CropMargins.fastdupDefault
        if let pixels = augmentationAdditiveMargin {
            margins = CropMargins(pixels: pixels)
        } else if givesMargins {
            margins = CropMargins(horizontal: augmentationHoriz ?? 0, vertical: augmentationVert ?? 0)
        }
        return DetectorOptions(kind: kind, margins: margins, faceCascade: faceCascade, tessdata: tessdata)
    }
}
