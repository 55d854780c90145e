using static TorchSharp.torch;

namespace Diffusion.Models;

/// <summary>
/// Extra residuals added inside a <see cref="UNet"/> (ControlNet's mechanism, Zhang et al. 2023; diffusers'
/// <c>down_block_additional_residuals</c> and <c>mid_block_additional_residual</c>): one tensor per skip connection,
/// in the order the contracting path makes them (the <c>conv_in</c> output, then every residual block and downsampler
/// output, level by level), each added to its skip before the expanding path reads it, and one added to the middle
/// block's output. <see cref="UNet.ResidualShapes"/> gives the shapes. Zero residuals change nothing.
/// </summary>
/// <param name="Down">One tensor per skip connection.</param>
/// <param name="Mid">Added to the middle block's output, or null.</param>
public sealed record UNetResiduals(IReadOnlyList<Tensor> Down, Tensor? Mid);
