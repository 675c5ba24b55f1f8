package x3d

import "fmt"

// Layer kinds in a cost breakdown.
const (
	KindConv   = "conv"   // Conv3d (groups = in for depthwise)
	KindLinear = "linear" // the classifier
	KindBN     = "bn"     // BatchNorm3d: parameters only (γ, β), no multiply-adds counted
)

// Cost is the analytical cost of one clip, counted as the paper does:
// multiply-adds of Conv3d and Linear layers only (BatchNorm, activations,
// pooling, SE scaling and residual adds are free; biases add no MACs).
// Params counts weights and biases, plus BN γ and β (running statistics are
// buffers, not parameters). Activations sums the output elements of every
// Conv3d and Linear layer.
type Cost struct {
	MACs              int64       `json:"macs"`
	Params            int64       `json:"params"`
	ParamsExcludingBN int64       `json:"params_excluding_bn"`
	Activations       int64       `json:"activations"`
	Crop              int         `json:"crop_size"`
	Layers            []LayerCost `json:"layers"`
}

// LayerCost is one layer's share. Output is the output shape C, T, H, W (for
// the classifier, H×W are the pooled positions it runs at).
type LayerCost struct {
	Name        string `json:"name"`
	Kind        string `json:"kind"`
	In          int    `json:"in"`
	Out         int    `json:"out"`
	Groups      int    `json:"groups,omitempty"`
	Kernel      [3]int `json:"kernel,omitzero"`
	Stride      [3]int `json:"stride,omitzero"`
	Output      [4]int `json:"output"`
	MACs        int64  `json:"macs"`
	Params      int64  `json:"params"`
	Activations int64  `json:"activations"`
}

// Cost counts the network at its own crop size.
func (a Arch) Cost() Cost { return a.CostAt(a.CropSize) }

// CostAt counts the network run fully convolutionally at another crop: every
// layer follows the larger feature maps, the head's pool kernel keeps its
// training size, and lin_5 and the classifier run at every remaining position.
// A crop that fails CheckCrop returns the zero Cost.
func (a Arch) CostAt(crop int) Cost {
	if crop < 1 || a.CheckCrop(crop) != nil {
		return Cost{}
	}
	c := counter{cost: Cost{Crop: crop}}
	t := a.Frames
	s := a.Stem
	hw := convOut(crop, s.SpatialKernel, s.SpatialStride)
	c.conv("stem.conv_xy", s.InChannels, s.OutChannels, 1, [3]int{1, s.SpatialKernel, s.SpatialKernel}, [3]int{1, s.SpatialStride, s.SpatialStride}, t, hw, false)
	c.conv("stem.conv_t", s.OutChannels, s.OutChannels, s.OutChannels, [3]int{s.TemporalKernel, 1, 1}, [3]int{1, 1, 1}, t, hw, false)
	c.bn("stem.bn", s.OutChannels, t, hw)
	for _, st := range a.Stages {
		for j, b := range st.Blocks {
			p := fmt.Sprintf("%s.%d.", st.Name, j)
			one := [3]int{1, 1, 1}
			c.conv(p+"conv_a", b.InChannels, b.InnerChannels, 1, one, one, t, hw, false)
			c.bn(p+"bn_a", b.InnerChannels, t, hw)
			out := convOut(hw, 3, b.SpatialStride)
			stride := [3]int{1, b.SpatialStride, b.SpatialStride}
			c.conv(p+"conv_b", b.InnerChannels, b.InnerChannels, b.InnerChannels, [3]int{3, 3, 3}, stride, t, out, false)
			c.bn(p+"bn_b", b.InnerChannels, t, out)
			if b.SEChannels > 0 {
				c.conv(p+"se.fc1", b.InnerChannels, b.SEChannels, 1, one, one, 1, 1, true)
				c.conv(p+"se.fc2", b.SEChannels, b.InnerChannels, 1, one, one, 1, 1, true)
			}
			c.conv(p+"conv_c", b.InnerChannels, b.OutChannels, 1, one, one, t, out, false)
			c.bn(p+"bn_c", b.OutChannels, t, out)
			if b.Shortcut != ShortcutIdentity {
				c.conv(p+"shortcut", b.InChannels, b.OutChannels, 1, one, stride, t, out, false)
				if b.Shortcut == ShortcutConvBN {
					c.bn(p+"shortcut_bn", b.OutChannels, t, out)
				}
			}
			hw = out
		}
	}
	if a.Detection != nil {
		a.countDetection(&c, hw)
		return c.cost
	}
	h := a.Head
	one := [3]int{1, 1, 1}
	c.conv("head.conv_5", h.InChannels, h.ConvChannels, 1, one, one, t, hw, false)
	c.bn("head.bn_5", h.ConvChannels, t, hw)
	pt, ph, pw := t-h.PoolKernel[0]+1, hw-h.PoolKernel[1]+1, hw-h.PoolKernel[2]+1
	c.add(LayerCost{Name: "head.lin_5", Kind: KindConv, In: h.ConvChannels, Out: h.FCChannels, Groups: 1, Kernel: one, Stride: one,
		Output: [4]int{h.FCChannels, pt, ph, pw}}, false)
	c.add(LayerCost{Name: "head.proj", Kind: KindLinear, In: h.FCChannels, Out: a.NumClasses,
		Output: [4]int{a.NumClasses, pt, ph, pw}}, true)
	return c.cost
}

type counter struct{ cost Cost }

// conv adds a square-output conv layer of output size t×hw×hw.
func (c *counter) conv(name string, in, out, groups int, k, s [3]int, t, hw int, bias bool) {
	c.add(LayerCost{Name: name, Kind: KindConv, In: in, Out: out, Groups: groups, Kernel: k, Stride: s, Output: [4]int{out, t, hw, hw}}, bias)
}

// add fills in MACs, params and activations of a conv or linear layer:
// MACs = output elements × (in/groups) × kernel volume.
func (c *counter) add(l LayerCost, bias bool) {
	groups, kvol := int64(1), int64(1)
	if l.Groups > 0 {
		groups = int64(l.Groups)
	}
	if l.Kind == KindConv {
		kvol = int64(l.Kernel[0] * l.Kernel[1] * l.Kernel[2])
	}
	perOut := int64(l.In) / groups * kvol
	l.Activations = int64(l.Output[0]) * int64(l.Output[1]) * int64(l.Output[2]) * int64(l.Output[3])
	l.MACs = l.Activations * perOut
	l.Params = int64(l.Out) * perOut
	if bias {
		l.Params += int64(l.Out)
	}
	c.cost.MACs += l.MACs
	c.cost.Params += l.Params
	c.cost.ParamsExcludingBN += l.Params
	c.cost.Activations += l.Activations
	c.cost.Layers = append(c.cost.Layers, l)
}

func (c *counter) bn(name string, ch, t, hw int) {
	l := LayerCost{Name: name, Kind: KindBN, In: ch, Out: ch, Output: [4]int{ch, t, hw, hw}, Params: 2 * int64(ch)}
	c.cost.Params += l.Params
	c.cost.Layers = append(c.cost.Layers, l)
}
