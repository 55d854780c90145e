using Diffusion.Core.Training;

namespace Diffusion.Core.Tests.Training;

public class PrecisionSupportTests
{
    [Theory]
    [InlineData("flags\t\t: fpu sse2 avx2 fma avx512f avx512_bf16 avx512_vnni", true)]
    [InlineData("flags\t\t: fpu sse2 avx2 fma amx_bf16 amx_tile", true)]
    [InlineData("flags\t\t: fpu sse2 avx2 fma avx512f avx512bw", false)]
    [InlineData("flags\t\t: fpu sse2 avx2 fma", false)]
    public void Bf16_is_detected_only_from_bf16_instruction_flags(string line, bool expected)
        => Assert.Equal(expected, PrecisionSupport.FlagsHaveBFloat16(line));

    [Fact]
    public void Auto_resolves_to_what_this_cpu_computes_fast_and_explicit_choices_stay()
    {
        var expected = PrecisionSupport.CpuHasFastBFloat16 ? Precision.BFloat16 : Precision.Float32;
        Assert.Equal(expected, Precision.Auto.Resolve());
        Assert.Equal(Precision.BFloat16, Precision.BFloat16.Resolve());
        Assert.Equal(Precision.Float32, Precision.Float32.Resolve());
    }
}
