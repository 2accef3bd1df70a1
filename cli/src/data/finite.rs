//! Finding the first value of a set of images that is NaN or infinite, and saying where it is:
//! which image, and which channel, row and column inside it.

use std::fmt;

/// A value that is not finite, and where it is in an `[N, C, H, W]` array.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NonFinitePixel {
    /// The value: NaN, +inf or -inf.
    pub value: f64,
    /// The index of the element in the row-major array.
    pub element: usize,
    /// The image (0-based).
    pub image: usize,
    /// The channel, row and column in the image (0-based).
    pub position: [usize; 3],
}

impl fmt::Display for NonFinitePixel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [c, row, column] = self.position;
        write!(
            f,
            "non-finite value {} in image {} at channel {c}, row {row}, column {column} \
             (element {} of the array; all counted from 0)",
            self.value, self.image, self.element
        )
    }
}

/// The first value of `values` (row-major, of shape `shape` = `[N, C, H, W]`) that is NaN or
/// infinite, with its image and position; `None` when every value is finite. The position is
/// only meaningful when `values` has the shape's number of elements.
pub fn first_non_finite(values: &[f64], shape: [usize; 4]) -> Option<NonFinitePixel> {
    let element = values.iter().position(|v| !v.is_finite())?;
    let [_, c, h, w] = shape.map(|d| d.max(1));
    let image_len = c * h * w;
    let within = element % image_len;
    Some(NonFinitePixel {
        value: values[element],
        element,
        image: element / image_len,
        position: [within / (h * w), (within / w) % h, within % w],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_position_is_image_channel_row_column() {
        let shape = [3, 2, 4, 5];
        let mut values = vec![0.5; 3 * 2 * 4 * 5];
        assert_eq!(first_non_finite(&values, shape), None);
        // image 2, channel 1, row 3, column 4: the last element.
        values[119] = f64::NEG_INFINITY;
        let found = first_non_finite(&values, shape).unwrap();
        assert_eq!((found.image, found.position), (2, [1, 3, 4]));
        // image 1, channel 0, row 2, column 1 comes first.
        values[40 + 2 * 5 + 1] = f64::NAN;
        let found = first_non_finite(&values, shape).unwrap();
        assert_eq!(
            (found.image, found.position, found.element),
            (1, [0, 2, 1], 51)
        );
        assert!(found.value.is_nan());
        let text = found.to_string();
        assert!(
            text.contains("NaN in image 1 at channel 0, row 2, column 1"),
            "{text}"
        );
    }
}
