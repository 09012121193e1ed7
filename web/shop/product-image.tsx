// A product picture: the WebP copy that fits (srcset) with the original's size reserved, so the
// layout does not move when it arrives; off-screen pictures load only when scrolled to.
import type { ProductView } from '@cartwire/client';

type Image = NonNullable<ProductView['images']>[number];

export function ProductImage({ image, sizes, eager = false }: { image: Image; sizes: string; eager?: boolean }) {
  return (
    <img
      class="picture"
      src={image.width > 400 ? `${image.url}?w=400` : image.url}
      srcset={image.srcset}
      sizes={sizes}
      alt={image.alt}
      width={image.width}
      height={image.height}
      loading={eager ? 'eager' : 'lazy'}
      decoding="async"
    />
  );
}
